import { describe, expect, it } from 'vitest';
import type { CanaryReleaseStatus } from '../api/canary-release.js';
import type { Measurement } from '../analysis/types.js';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { MemoryKube } from '../kube/memory.js';
import type { Deployment, Kind, KubeObject } from '../kube/resources.js';
import { loadTemplates } from '../../test/harness/templates.js';
import { FINALIZER, PRIMARY_LABEL, REVISION_ANNOTATION } from '../managed/labels.js';
import { silentLogger } from '../telemetry/logger.js';
import { counts, requests } from '../../test/builders/release.js';
import { fakeMetrics, NAMESPACE } from '../../test/builders/cluster.js';
import {
  configMap,
  managedSpecInput,
  podinfoCluster,
  rollOutDeployments,
  userDeployment,
} from '../../test/builders/managed.js';
import { MeasureBatcher } from './measure-batcher.js';
import { Reconciler } from './reconciler.js';

const KEY = `${NAMESPACE}/podinfo`;
const healthy = (): Measurement => requests(counts(1000, 2), counts(9000, 20));
const failing = (): Measurement => requests(counts(1000, 100), counts(9000, 20));

/** The controller and the deployment controller taking turns on a virtual clock. */
function harness(kube: MemoryKube, options: { answer?: () => Measurement; trackSecrets?: boolean } = {}) {
  let now = new Date('2026-11-21T10:00:00Z');
  kube.clock = () => now;
  let answer = options.answer ?? healthy;
  const reconciler = new Reconciler({
    kube,
    measurer: new MeasureBatcher(
      fakeMetrics(() => answer()),
      0,
    ),
    clock: () => now,
    logger: silentLogger(),
    trackSecrets: options.trackSecrets ?? false,
  });
  const get = (kind: 'Deployment' | 'DestinationRule' | 'VirtualService' | 'CanaryRelease', name: string) =>
    kube.get(kind, { namespace: NAMESPACE, name });
  const status = () => get('CanaryRelease', 'podinfo')?.status as CanaryReleaseStatus | undefined;
  const weights = (): string => {
    const vs = get('VirtualService', 'podinfo') as
      { spec: { http: { route: { weight?: number }[] }[] } } | undefined;
    return vs?.spec.http[0]?.route.map((r) => r.weight ?? 0).join('/') ?? 'gone';
  };
  const stuck = new Set<string>();
  return {
    get,
    status,
    weights,
    stuck,
    setAnswer: (next: () => Measurement) => (answer = next),
    primary: () => get('Deployment', 'podinfo-primary') as Deployment | undefined,
    target: () => get('Deployment', 'podinfo') as Deployment,
    /** Reconciles until `done`; returns every distinct weight pair the VirtualService showed. */
    async runUntil(done: () => boolean, max = 300): Promise<string[]> {
      const seen: string[] = [];
      for (let i = 0; i < max; i++) {
        const next = await reconciler.reconcile(KEY);
        rollOutDeployments(kube, stuck);
        if (seen.at(-1) !== weights()) seen.push(weights());
        if (done()) return seen;
        now = new Date(now.getTime() + Math.max(next ?? 60_000, 1_000));
      }
      throw new Error(
        `not done after ${max} reconciles: ${status()?.phase ?? '-'} ${status()?.message ?? ''}`,
      );
    },
  };
}

const image = (d: Deployment | undefined): unknown =>
  (d?.spec?.template?.spec as { containers: { image: string }[] } | undefined)?.containers[0]?.image;

function setImage(kube: MemoryKube, next: string): void {
  // the cache hands out frozen objects: edit a copy, as a user edits their own manifest
  const d = structuredClone(kube.get('Deployment', { namespace: NAMESPACE, name: 'podinfo' })) as Deployment;
  const containers = (d.spec?.template?.spec as { containers: { image: string }[] }).containers;
  containers[0]!.image = next;
  kube.apply('Deployment', d);
}

async function initialized(kube: MemoryKube, options?: Parameters<typeof harness>[1]) {
  const h = harness(kube, options);
  await h.runUntil(() => h.status()?.phase === 'Succeeded' && h.target().spec?.replicas === 0);
  return h;
}

describe('managed mode on an in-memory cluster', () => {
  it('runs the README example: examples/managed-podinfo.yaml initializes, then rolls out an image change', async () => {
    const kube = new MemoryKube();
    const example = readFileSync(new URL('../../examples/managed-podinfo.yaml', import.meta.url), 'utf8');
    for (const doc of parseAllDocuments(example)) {
      const object = doc.toJS() as KubeObject;
      kube.apply(object.kind as Kind, { ...object, metadata: { ...object.metadata, namespace: NAMESPACE } });
    }
    for (const { template } of loadTemplates()) kube.apply('ClusterAnalysisTemplate', template);
    const h = await initialized(kube);
    setImage(kube, 'ghcr.io/stefanprodan/podinfo:6.7.1');
    const weights = await h.runUntil(
      () => h.status()?.phase === 'Succeeded' && h.target().spec?.replicas === 0,
    );
    expect(weights).toEqual(['100/0', '90/10', '50/50', '100/0']);
    expect(image(h.primary())).toBe('ghcr.io/stefanprodan/podinfo:6.7.1');
  });

  it('bootstraps: a ready primary copy, subsets that tell the two apart, all traffic on it, the user Deployment at zero', async () => {
    const kube = podinfoCluster();
    const h = harness(kube);
    const weights = await h.runUntil(
      () => h.status()?.phase === 'Succeeded' && h.target().spec?.replicas === 0,
    );

    const primary = h.primary()!;
    expect(primary.spec?.replicas).toBe(3);
    expect(primary.spec?.selector?.matchLabels).toEqual({ app: 'podinfo', [PRIMARY_LABEL]: 'true' });
    const revision = primary.metadata.annotations?.[REVISION_ANNOTATION];
    expect(primary.spec?.template?.metadata?.labels).toEqual({
      app: 'podinfo',
      version: revision,
      [PRIMARY_LABEL]: 'true',
    });
    expect(image(primary)).toBe('podinfo:1.0');
    const dr = h.get('DestinationRule', 'podinfo') as {
      spec: { subsets: { name: string; labels: unknown }[] };
    };
    expect(dr.spec.subsets).toEqual([
      { name: 'stable', labels: { [PRIMARY_LABEL]: 'true' } },
      { name: 'canary', labels: { version: 'canary' } },
    ]);
    expect(weights.at(-1)).toBe('100/0');
    expect(h.get('CanaryRelease', 'podinfo')?.metadata.finalizers).toEqual([FINALIZER]);
    expect(h.status()?.decisions?.at(-1)?.message).toMatch(
      new RegExp(`initialized: podinfo-primary runs revision ${revision ?? ''} with 3 replicas`),
    );
    // GitOps friendliness: only replicas changed on the user's Deployment
    expect({ ...h.target().spec, replicas: 3 }).toEqual(userDeployment().spec);
  });

  it('rolls out an image change step by step and promotes it into the primary, then scales the canary down', async () => {
    const kube = podinfoCluster();
    const h = await initialized(kube);
    const before = h.primary()!.metadata.annotations?.[REVISION_ANNOTATION];
    setImage(kube, 'podinfo:2.0');
    const weights = await h.runUntil(
      () => h.status()?.phase === 'Succeeded' && h.target().spec?.replicas === 0,
    );

    expect(weights).toEqual(['100/0', '80/20', '40/60', '100/0']);
    expect(image(h.primary())).toBe('podinfo:2.0');
    const after = h.primary()!.metadata.annotations?.[REVISION_ANNOTATION];
    expect(after).not.toBe(before);
    expect(h.status()?.stableRevision).toBe(after);
    expect(h.status()?.decisions?.at(-1)?.message).toMatch(/promoted after .*podinfo-primary runs it/);
  });

  it('treats a change of a referenced ConfigMap alone as a new revision', async () => {
    const kube = podinfoCluster();
    const h = await initialized(kube);
    const before = h.status()?.stableRevision;
    kube.apply('ConfigMap', configMap({ color: 'green' }));
    await h.runUntil(() => h.status()?.phase === 'Progressing');
    expect(h.status()?.canaryRevision).not.toBe(before);
    expect(h.status()?.decisions?.at(-1)?.reason).toBe('NewRevision');
    await h.runUntil(() => h.status()?.phase === 'Succeeded');
    // the primary restarts onto the new configuration: its revision label changed
    expect(h.primary()!.spec?.template?.metadata?.labels?.version).toBe(h.status()?.canaryRevision);
  });

  it('gives the primary its own copy of the ConfigMap, which keeps the old content until the new one is promoted', async () => {
    const kube = podinfoCluster();
    const h = await initialized(kube);
    const copy = () =>
      kube.get('ConfigMap', { namespace: NAMESPACE, name: 'podinfo-config-primary' }) as
        (KubeObject & { data?: Record<string, string> }) | undefined;
    expect(copy()?.data).toEqual({ color: 'blue' });
    expect(copy()?.metadata.labels).toEqual({
      'app.kubernetes.io/managed-by': 'canaria',
      'canaria.dev/release': 'podinfo',
    });
    const envFrom = (d: Deployment | undefined) =>
      (d?.spec?.template?.spec as { containers: { envFrom: unknown }[] }).containers[0]?.envFrom;
    // the primary reads the copy; the user's Deployment, the canary, reads the original
    expect(envFrom(h.primary())).toEqual([{ configMapRef: { name: 'podinfo-config-primary' } }]);
    expect(envFrom(h.target())).toEqual([{ configMapRef: { name: 'podinfo-config' } }]);

    kube.apply('ConfigMap', configMap({ color: 'green' }));
    const contents: unknown[] = [];
    await h.runUntil(() => {
      if (contents.at(-1) !== copy()?.data?.color) contents.push(copy()?.data?.color);
      return h.weights() === '40/60';
    });
    expect(h.status()?.phase).toBe('Progressing');
    expect(copy()?.data).toEqual({ color: 'blue' });
    await h.runUntil(() => {
      if (contents.at(-1) !== copy()?.data?.color) contents.push(copy()?.data?.color);
      return h.status()?.phase === 'Succeeded';
    });
    expect(h.status()?.decisions?.at(-1)?.reason).toBe('Promoted');
    expect(copy()?.data).toEqual({ color: 'green' });
    // the copy changed once, at promotion
    expect(contents).toEqual(['blue', 'green']);
    // the template that reads it is the user's (revertTarget puts back what the user wrote)
    expect(envFrom(h.primary())).toEqual([{ configMapRef: { name: 'podinfo-config-primary' } }]);
  });

  it('copies Secrets for the primary only when it may read them, and deletes the copies with the primary', async () => {
    for (const trackSecrets of [false, true]) {
      const kube = podinfoCluster(managedSpecInput({ managed: { cleanupOnDelete: true } }));
      const d = userDeployment();
      (d.spec!.template!.spec as { volumes?: unknown[] }).volumes = [
        { name: 's', secret: { secretName: 'token' } },
      ];
      kube.apply('Deployment', d);
      kube.apply('Secret', {
        metadata: { name: 'token', namespace: NAMESPACE },
        type: 'Opaque',
        data: { t: 'YQ==' },
      });
      const h = await initialized(kube, { trackSecrets });
      const volumes = (h.primary()!.spec?.template?.spec as { volumes: unknown[] }).volumes;
      const copy = kube.get('Secret', { namespace: NAMESPACE, name: 'token-primary' });
      if (trackSecrets) {
        expect(volumes).toEqual([{ name: 's', secret: { secretName: 'token-primary' } }]);
        expect(copy).toMatchObject({ type: 'Opaque', data: { t: 'YQ==' } });
      } else {
        // canaria may not read it: the primary reads the original, and the status says changes go unjudged
        expect(volumes).toEqual([{ name: 's', secret: { secretName: 'token' } }]);
        expect(copy).toBeUndefined();
      }
      await kube.delete('CanaryRelease', { namespace: NAMESPACE, name: 'podinfo' });
      await h.runUntil(() => h.get('CanaryRelease', 'podinfo') === undefined);
      expect(kube.get('ConfigMap', { namespace: NAMESPACE, name: 'podinfo-config-primary' })).toBeUndefined();
      expect(kube.get('Secret', { namespace: NAMESPACE, name: 'token-primary' })).toBeUndefined();
      expect(kube.get('Secret', { namespace: NAMESPACE, name: 'token' })).toBeDefined();
    }
  });

  it('refuses to overwrite a podinfo-config-primary it did not create', async () => {
    const kube = podinfoCluster();
    kube.apply('ConfigMap', { metadata: { name: 'podinfo-config-primary', namespace: NAMESPACE }, data: {} });
    const h = harness(kube);
    await h.runUntil(() => h.status()?.phase === 'Failed');
    expect(h.status()?.message).toMatch(
      /spec\.targetRef\.name: ConfigMap "podinfo-config-primary" exists and was not created by canaria for this release; rename or delete it/,
    );
    expect(h.primary()).toBeUndefined();
  });

  it('refuses a user Deployment whose selector would also select the primary, naming the field and the fix', async () => {
    const kube = podinfoCluster();
    const d = userDeployment();
    d.spec!.selector = { matchLabels: { app: 'podinfo' } };
    kube.apply('Deployment', d);
    const h = harness(kube);
    await h.runUntil(() => h.status()?.phase === 'Failed');
    expect(h.status()?.message).toMatch(
      /spec\.targetRef\.name: Deployment "podinfo"'s spec\.selector does not require the revision label version, so it also selects podinfo-primary's pods .*; add version: canary to spec\.selector\.matchLabels/,
    );
    expect(h.primary()).toBeUndefined();
  });

  it('rolls a bad revision back with the primary untouched, and with revertTarget restores the template', async () => {
    const kube = podinfoCluster(managedSpecInput({ rollback: { revertTarget: true } }));
    const h = await initialized(kube);
    const primaryBefore = structuredClone(h.primary()!.spec);
    h.setAnswer(failing);
    setImage(kube, 'podinfo:bad');
    const weights = await h.runUntil(
      () =>
        h.status()?.phase === 'RolledBack' &&
        image(h.target()) === 'podinfo:1.0' &&
        h.target().spec?.replicas === 0,
    );
    expect(weights).toEqual(['100/0', '80/20', '100/0']);
    expect(h.primary()!.spec).toEqual(primaryBefore);
    const decisions = h.status()?.decisions?.map((d) => d.reason) ?? [];
    expect(decisions).toContain('AnalysisFailed');
    expect(decisions.at(-1)).toBe('TargetReverted');
    // reverted to what the primary runs: no new rollout starts
    await h.runUntil(() => true);
    expect(h.status()?.phase).toBe('RolledBack');
  });

  it('leaves the bad template in place without revertTarget', async () => {
    const kube = podinfoCluster();
    const h = await initialized(kube, { answer: failing });
    setImage(kube, 'podinfo:bad');
    await h.runUntil(() => h.status()?.phase === 'RolledBack' && h.target().spec?.replicas === 0);
    expect(image(h.target())).toBe('podinfo:bad');
    expect(image(h.primary())).toBe('podinfo:1.0');
  });

  it('restarts from the first step when the image changes again mid-rollout', async () => {
    const kube = podinfoCluster();
    const h = await initialized(kube);
    setImage(kube, 'podinfo:2.0');
    await h.runUntil(() => h.weights() === '40/60');
    setImage(kube, 'podinfo:3.0');
    const weights = await h.runUntil(() => h.status()?.phase === 'Succeeded');
    // back to 0 % at once, then every step again
    expect(weights).toEqual(['100/0', '80/20', '40/60', '100/0']);
    expect(h.status()?.decisions?.find((d) => d.action === 'Restart')?.message).toMatch(
      /restarting from step 1 \(was on step 3\)/,
    );
    expect(image(h.primary())).toBe('podinfo:3.0');
  });

  it('rolls back when the canary never becomes ready within the progress deadline', async () => {
    const kube = podinfoCluster(managedSpecInput({ progressDeadline: '2m' }));
    const h = await initialized(kube);
    h.stuck.add('podinfo');
    setImage(kube, 'podinfo:2.0');
    await h.runUntil(() => h.status()?.phase === 'RolledBack');
    expect(h.status()?.decisions?.at(-1)?.reason).toBe('ProgressDeadlineExceeded');
    expect(h.weights()).toBe('100/0');
  });

  it('gives the primary an autoscaler like the one of the user Deployment, and removes it with it', async () => {
    const kube = podinfoCluster();
    const hpa = {
      metadata: { name: 'podinfo', namespace: NAMESPACE },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
        minReplicas: 2,
        maxReplicas: 6,
      },
    };
    kube.apply('HorizontalPodAutoscaler', hpa);
    const h = await initialized(kube);
    const copy = kube.get('HorizontalPodAutoscaler', { namespace: NAMESPACE, name: 'podinfo-primary' });
    expect(copy?.spec).toEqual({
      ...hpa.spec,
      scaleTargetRef: { ...hpa.spec.scaleTargetRef, name: 'podinfo-primary' },
    });
    kube.apply('HorizontalPodAutoscaler', { ...hpa, spec: { ...hpa.spec, maxReplicas: 9 } });
    await h.runUntil(() => true);
    expect(
      (
        kube.get('HorizontalPodAutoscaler', { namespace: NAMESPACE, name: 'podinfo-primary' })?.spec as {
          maxReplicas: number;
        }
      ).maxReplicas,
    ).toBe(9);
    kube.remove('HorizontalPodAutoscaler', { namespace: NAMESPACE, name: 'podinfo' });
    await h.runUntil(() => true);
    expect(
      kube.get('HorizontalPodAutoscaler', { namespace: NAMESPACE, name: 'podinfo-primary' }),
    ).toBeUndefined();
  });

  it("keeps each side's autoscaler to its own pods: disjoint selectors, the mirror scales the primary", async () => {
    const kube = podinfoCluster();
    kube.apply('HorizontalPodAutoscaler', {
      metadata: { name: 'podinfo', namespace: NAMESPACE },
      spec: { scaleTargetRef: { kind: 'Deployment', name: 'podinfo' }, minReplicas: 2, maxReplicas: 6 },
    });
    const h = await initialized(kube);
    setImage(kube, 'podinfo:2.0');
    await h.runUntil(() => h.weights() === '80/20');
    // an autoscaler counts the pods its target's selector selects (the scale subresource's selector)
    const selects = (d: Deployment, pods: Deployment) =>
      Object.entries(d.spec?.selector?.matchLabels ?? {}).every(
        ([k, v]) => pods.spec?.template?.metadata?.labels?.[k] === v,
      );
    const [primary, target] = [h.primary()!, h.target()];
    expect(selects(target, target) && selects(primary, primary)).toBe(true);
    expect(selects(target, primary), "the user's selector selects the primary's pods").toBe(false);
    expect(selects(primary, target), "the primary's selector selects the canary's pods").toBe(false);
    const mirror = kube.get('HorizontalPodAutoscaler', { namespace: NAMESPACE, name: 'podinfo-primary' });
    expect((mirror?.spec as { scaleTargetRef: unknown }).scaleTargetRef).toEqual({
      kind: 'Deployment',
      name: 'podinfo-primary',
    });
  });

  it('with managed mode off refuses a targetRef, naming the field and the fix, and touches no workload', async () => {
    const kube = podinfoCluster();
    const reconciler = new Reconciler({
      kube,
      measurer: new MeasureBatcher(fakeMetrics(healthy), 0),
      clock: () => new Date('2026-11-21T10:00:00Z'),
      logger: silentLogger(),
      managedMode: false,
    });
    await reconciler.reconcile(KEY);
    const release = kube.get('CanaryRelease', { namespace: NAMESPACE, name: 'podinfo' })!;
    const status = release.status as CanaryReleaseStatus;
    expect(status.conditions?.find((c) => c.type === 'ConfigValid')).toMatchObject({
      status: 'False',
      message: expect.stringMatching(
        /spec\.targetRef: managed mode is turned off in this controller \(--managed-mode=false; chart value managedMode\.enabled=false\).*remove spec\.targetRef and name the two Deployments in spec\.subsets, or turn managed mode on/,
      ) as unknown,
    });
    expect(release.metadata.finalizers).toBeUndefined();
    expect(kube.get('Deployment', { namespace: NAMESPACE, name: 'podinfo-primary' })).toBeUndefined();
    expect(kube.get('ConfigMap', { namespace: NAMESPACE, name: 'podinfo-config-primary' })).toBeUndefined();
    expect(
      (kube.get('Deployment', { namespace: NAMESPACE, name: 'podinfo' }) as Deployment).spec?.replicas,
    ).toBe(3);
  });

  it('with managed mode turned off lets a managed release being deleted go, leaving traffic on the primary', async () => {
    const kube = podinfoCluster();
    const h = await initialized(kube);
    const off = new Reconciler({
      kube,
      measurer: new MeasureBatcher(fakeMetrics(healthy), 0),
      clock: () => new Date('2026-11-21T12:00:00Z'),
      logger: silentLogger(),
      managedMode: false,
    });
    await kube.delete('CanaryRelease', { namespace: NAMESPACE, name: 'podinfo' });
    expect(h.get('CanaryRelease', 'podinfo')).toBeDefined();
    await off.reconcile(KEY);
    expect(h.get('CanaryRelease', 'podinfo')).toBeUndefined();
    expect(kube.events.at(-1)?.event).toMatchObject({
      severity: 'Warning',
      reason: 'ManagedModeOff',
      message: expect.stringMatching(/traffic stays where it is and podinfo-primary is kept/) as unknown,
    });
    expect(h.weights()).toBe('100/0');
    expect(h.primary()).toBeDefined();
  });

  it('on deletion gives all traffic back to the user Deployment before letting the release go', async () => {
    const kube = podinfoCluster(managedSpecInput({ managed: { cleanupOnDelete: true } }));
    const h = await initialized(kube);
    await kube.delete('CanaryRelease', { namespace: NAMESPACE, name: 'podinfo' });
    expect(h.get('CanaryRelease', 'podinfo')).toBeDefined();
    const weights = await h.runUntil(() => h.get('CanaryRelease', 'podinfo') === undefined);
    expect(weights.at(-1)).toBe('0/100');
    expect(h.target().spec?.replicas).toBe(3);
    expect(h.primary()).toBeUndefined();
    expect(kube.events.at(-1)?.event.message).toMatch(
      /100 % of traffic restored to Deployment podinfo; podinfo-primary deleted/,
    );
  });

  it('lets a deleted release go after the progress deadline when the user Deployment never becomes ready, keeping traffic on the primary', async () => {
    const kube = podinfoCluster(
      managedSpecInput({ progressDeadline: '2m', managed: { cleanupOnDelete: true } }),
    );
    const h = await initialized(kube);
    h.stuck.add('podinfo');
    await kube.delete('CanaryRelease', { namespace: NAMESPACE, name: 'podinfo' });
    await h.runUntil(() => h.get('CanaryRelease', 'podinfo') === undefined);
    expect(h.weights()).toBe('100/0');
    expect(h.primary()).toBeDefined();
    expect(kube.events.at(-1)?.event).toMatchObject({ severity: 'Warning', reason: 'RestoreTimedOut' });
  });

  it('keeps the primary on deletion unless asked to clean up', async () => {
    const kube = podinfoCluster();
    const h = await initialized(kube);
    await kube.delete('CanaryRelease', { namespace: NAMESPACE, name: 'podinfo' });
    await h.runUntil(() => h.get('CanaryRelease', 'podinfo') === undefined);
    expect(h.weights()).toBe('0/100');
    expect(h.primary()).toBeDefined();
  });

  it('asks for a revision label when the pods have none, naming the field and the fix', async () => {
    const kube = podinfoCluster();
    const d = userDeployment();
    d.spec!.template!.metadata!.labels = { app: 'podinfo' };
    kube.apply('Deployment', d);
    const h = harness(kube);
    await h.runUntil(() => h.status()?.phase === 'Failed');
    expect(h.status()?.message).toMatch(
      /spec\.targetRef\.name: Deployment "podinfo" has no revision label on its pods; add a "version" label/,
    );
    expect(h.primary()).toBeUndefined();
  });

  it('refuses to take over a podinfo-primary it did not create', async () => {
    const kube = podinfoCluster();
    const foreign: KubeObject = {
      ...userDeployment(),
      metadata: { name: 'podinfo-primary', namespace: NAMESPACE },
    };
    kube.apply('Deployment', foreign);
    const h = harness(kube);
    await h.runUntil(() => h.status()?.phase === 'Failed');
    expect(h.status()?.message).toMatch(/"podinfo-primary" exists and was not created by canaria/);
  });

  it('counts Secrets in a revision only when it may read them', async () => {
    for (const trackSecrets of [false, true]) {
      const kube = podinfoCluster();
      const d = userDeployment();
      (d.spec!.template!.spec as { volumes?: unknown[] }).volumes = [
        { name: 's', secret: { secretName: 'token' } },
      ];
      kube.apply('Deployment', d);
      kube.apply('Secret', { metadata: { name: 'token', namespace: NAMESPACE }, data: { t: 'YQ==' } });
      const h = await initialized(kube, { trackSecrets });
      kube.apply('Secret', { metadata: { name: 'token', namespace: NAMESPACE }, data: { t: 'Yg==' } });
      await h.runUntil(() => true);
      const note = h.status()?.conditions?.find((c) => c.type === 'SecretsTracked');
      if (trackSecrets) expect(note).toBeUndefined();
      else
        expect(note?.message).toMatch(
          /reads Secret token, whose changes do not start a rollout: run the controller with --track-secrets/,
        );
      expect(h.status()?.phase, `trackSecrets ${String(trackSecrets)}`).toBe(
        trackSecrets ? 'Progressing' : 'Succeeded',
      );
    }
  });
});
