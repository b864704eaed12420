import { describe, it, expect } from 'vitest';
import { istioResources, loadManifestFiles, parseManifests } from './manifests.js';

const text = `# a comment
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination:
        host: reviews
        subset: v1
      weight: 90
---
---
kind: ConfigMap
metadata: {name: c}
`;

describe('parseManifests', () => {
  it('reads every non-empty document and finds the line of a YAML path', () => {
    const { manifests, problems } = parseManifests('a.yaml', text);
    expect(problems).toEqual([]);
    expect(manifests.map((m) => (m.doc as { kind: string }).kind)).toEqual(['VirtualService', 'ConfigMap']);
    const [vs] = manifests;
    expect(vs?.line(['spec', 'http', 0, 'route', 0, 'weight'])).toBe(13);
    expect(vs?.line(['spec', 'http', 0, 'route', 0, 'destination', 'subset'])).toBe(12);
    expect(vs?.line(['spec', 'http', 0])).toBe(9);
    expect(vs?.line(['spec', 'nothing'])).toBeUndefined();
  });

  it('reports a YAML syntax error with its line, and keeps the other documents', () => {
    const { manifests, problems } = parseManifests('b.yaml', 'kind: A\n---\nkey: [unclosed\n---\nkind: B\n');
    expect(manifests).toHaveLength(2);
    expect(problems).toHaveLength(1);
    // the parser notices the unclosed flow sequence where the next document starts
    expect(problems[0]).toMatchObject({ file: 'b.yaml', line: 4 });
    expect(problems[0]?.message).toMatch(/^invalid YAML: Flow sequence/);
  });
});

describe('loadManifestFiles and istioResources', () => {
  it('turns an unreadable file and a malformed resource into problems', async () => {
    const files: Record<string, string> = {
      'ok.yaml': text,
      'bad.yaml': 'kind: DestinationRule\nmetadata: {name: x}\nspec: {}\n',
    };
    const loaded = await loadManifestFiles(['ok.yaml', 'bad.yaml', 'missing.yaml'], (f) =>
      f in files ? Promise.resolve(files[f] ?? '') : Promise.reject(new Error('ENOENT')),
    );
    expect(loaded.problems).toEqual([{ file: 'missing.yaml', message: 'cannot read the file: ENOENT' }]);
    const resources = istioResources(loaded.manifests);
    expect(resources.virtualServices.map((v) => v.metadata.name)).toEqual(['reviews']);
    expect(resources.problems).toEqual([
      {
        file: 'bad.yaml',
        message: 'DestinationRule: spec.host: is required (host is required, e.g. reviews)',
      },
    ]);
  });
});
