import { describe, expect, it } from 'vitest';
import { applyJsonPatch } from '../../kube/json-patch.js';
import { desiredServices, planService, planServices, servicesPointed, type Service } from './services.js';
import { spec } from './fixtures.test-support.js';

const release = { metadata: { name: 'reviews', namespace: 'prod' } };
const user: Service = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'reviews', namespace: 'prod', labels: { app: 'reviews' } },
  spec: {
    type: 'NodePort',
    selector: { app: 'reviews' },
    ports: [{ name: 'http', port: 9080, targetPort: 'http', protocol: 'TCP', nodePort: 30080 }],
  },
};
const routing = spec({ stableService: 'reviews-primary', canaryService: 'reviews-canary' });
const desired = desiredServices(release, user, routing, 'version', 'v2');

describe('managed-mode Services', () => {
  it('select the primary pods and the canary pods, with the user Service ports', () => {
    expect(desired.stable.spec).toEqual({
      type: 'ClusterIP',
      selector: { app: 'reviews', 'canaria.dev/primary': 'true' },
      ports: [{ name: 'http', port: 9080, targetPort: 'http', protocol: 'TCP' }],
    });
    expect(desired.canary.spec?.selector).toEqual({ app: 'reviews', version: 'v2' });
    expect(desired.canary.metadata.labels).toEqual({
      'app.kubernetes.io/managed-by': 'canaria',
      'canaria.dev/release': 'reviews',
    });
  });

  it('are created when missing and pointed once they select right', () => {
    expect(planServices({}, desired, 'reviews').map((p) => p.kind)).toEqual(['create', 'create']);
    expect(servicesPointed({}, desired)).toBe(false);
    expect(servicesPointed({ stable: desired.stable, canary: desired.canary }, desired)).toBe(true);
    expect(planService(desired.canary, desired.canary, 'reviews')).toEqual({ kind: 'none' });
  });

  it('patch only the selector of a Service of a new canary revision, guarded', () => {
    const old = desiredServices(release, user, routing, 'version', 'v1').canary;
    const stored = { ...old, spec: { ...old.spec, clusterIP: '10.0.0.7' } };
    const plan = planService(stored, desired.canary, 'reviews');
    if (plan.kind !== 'patch') throw new Error(`expected a patch, got ${plan.kind}`);
    expect(plan.ops).toEqual([
      { op: 'test', path: '/metadata/labels', value: stored.metadata.labels },
      { op: 'test', path: '/spec/selector', value: { app: 'reviews', version: 'v1' } },
      { op: 'replace', path: '/spec/selector', value: { app: 'reviews', version: 'v2' } },
    ]);
    const after = applyJsonPatch(stored, plan.ops);
    expect(servicesPointed({ stable: desired.stable, canary: after }, desired)).toBe(true);
    expect(after.spec.clusterIP).toBe('10.0.0.7');
  });

  it('never touch a Service of that name that canaria did not create', () => {
    const foreign = { ...desired.stable, metadata: { name: 'reviews-primary', labels: { app: 'x' } } };
    expect(planService(foreign, desired.stable, 'reviews')).toMatchObject({
      kind: 'conflict',
      name: 'reviews-primary',
    });
  });
});
