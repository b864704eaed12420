/**
 * Issue 13 part 8: the controller's own status write reaches its cache later than the next
 * reconcile may run (the VirtualService patch it just made wakes it at once). A reconcile on the
 * release as it was before the write must not decide the same step again, and a status write must
 * never land on a release that changed since the decision was made.
 */
import { describe, expect, it } from 'vitest';
import type { CanaryReleaseStatus } from '../api/canary-release.js';
import type { JsonPatchOperation } from '../kube/json-patch.js';
import type { MemoryKube } from '../kube/memory.js';
import type { KubeEvent, KubePort, StatusWriteOptions, WatchHandler } from '../kube/port.js';
import { refKey, refOf, type Kind, type KubeObject, type Ref } from '../kube/resources.js';
import { Writable } from 'node:stream';
import { createLogger } from '../telemetry/logger.js';
import { baseSpecInput, counts, requests } from '../../test/builders/release.js';
import { fakeMetrics, NAMESPACE, reviewsCluster } from '../../test/builders/cluster.js';
import { MeasureBatcher } from './measure-batcher.js';
import { Reconciler } from './reconciler.js';

const KEY = `${NAMESPACE}/reviews`;
const REF = { namespace: NAMESPACE, name: 'reviews' };

/**
 * The in-memory API server behind a release cache that lags: writes land at once, but the
 * CanaryReleases the controller reads are the ones last delivered, as an informer's are while the
 * watch event of a write is still on its way.
 */
class LaggingReleaseCache implements KubePort {
  private cached = new Map<string, KubeObject>();

  constructor(readonly server: MemoryKube) {
    this.deliver();
  }

  /** The watch catches up: the cache now holds what the API server holds. */
  deliver(): void {
    this.cached = new Map(this.server.list('CanaryRelease').map((o) => [refKey(refOf(o)), o]));
  }

  get(kind: Kind, ref: Ref): KubeObject | undefined {
    if (kind !== 'CanaryRelease') return this.server.get(kind, ref);
    const found = this.cached.get(refKey(ref));
    return found && structuredClone(found);
  }
  list(kind: Kind, namespace?: string): KubeObject[] {
    if (kind !== 'CanaryRelease') return this.server.list(kind, namespace);
    return [...this.cached.values()]
      .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
      .map((o) => structuredClone(o));
  }
  patch(kind: Kind, ref: Ref, ops: readonly JsonPatchOperation[]): Promise<KubeObject> {
    return this.server.patch(kind, ref, ops);
  }
  create(kind: Kind, object: KubeObject): Promise<KubeObject> {
    return this.server.create(kind, object);
  }
  delete(kind: Kind, ref: Ref): Promise<void> {
    return this.server.delete(kind, ref);
  }
  writeReleaseStatus(ref: Ref, status: CanaryReleaseStatus, options?: StatusWriteOptions): Promise<string> {
    return this.server.writeReleaseStatus(ref, status, options);
  }
  recordEvent(release: KubeObject, event: KubeEvent): Promise<void> {
    return this.server.recordEvent(release, event);
  }
  watch(handler: WatchHandler): () => void {
    return this.server.watch(handler);
  }
  synced(): boolean {
    return true;
  }
}

/** The seeds' subsets-mode release, on the route named primary (the /admin route also sends to v1). */
function spec() {
  const input = baseSpecInput();
  input.trafficRouting.istio!.virtualService.routes = ['primary'];
  return input;
}

function harness() {
  const server = reviewsCluster(spec());
  const kube = new LaggingReleaseCache(server);
  const logs: { level: string; msg: string }[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(JSON.parse(chunk.toString('utf8')) as { level: string; msg: string });
      done();
    },
  });
  let now = new Date('2026-11-21T10:00:00Z');
  const reconciler = new Reconciler({
    kube,
    measurer: new MeasureBatcher(
      fakeMetrics(() => requests(counts(1000, 2), counts(9000, 20))),
      0,
    ),
    clock: () => now,
    logger: createLogger({ level: 'debug', destination }),
  });
  return {
    logs,
    server,
    kube,
    reconciler,
    advance: (ms: number) => (now = new Date(now.getTime() + ms)),
    stored: () => server.get('CanaryRelease', REF)?.status as CanaryReleaseStatus | undefined,
    decisions: () => (server.get('CanaryRelease', REF)?.status as CanaryReleaseStatus).decisions ?? [],
  };
}

describe('Reconciler on a release cache that lags behind its own writes', () => {
  it('decides a Start and an Advance once: one Event each, rolloutStartedAt never rewritten', async () => {
    const h = harness();
    await h.reconciler.reconcile(KEY); // Start, at the weight the VirtualService already shows
    const started = h.stored();
    expect(started?.decisions?.map((d) => d.action)).toEqual(['Start']);

    // the next reconcile comes 56 ms later, before the status write is back through the watch
    h.advance(56);
    await h.reconciler.reconcile(KEY);
    expect(h.decisions().map((d) => d.action)).toEqual(['Start']);
    expect(h.stored()?.rolloutStartedAt).toBe(started?.rolloutStartedAt);

    // the whole rollout so: every reconcile is followed at once by one on the cache it started from
    for (let i = 0; i < 100 && h.stored()?.phase !== 'Succeeded'; i++) {
      h.kube.deliver();
      const next = await h.reconciler.reconcile(KEY);
      h.advance(56);
      await h.reconciler.reconcile(KEY);
      h.advance(Math.max(next ?? 60_000, 1_000));
    }
    expect(h.stored()?.phase).toBe('Succeeded');
    expect(h.decisions().map((d) => d.action)).toEqual([
      'Start',
      'Advance',
      'Advance',
      'Advance',
      'Promote',
      'Succeed',
    ]);
    const events = h.server.events.map((e) => `${e.event.reason}: ${e.event.message}`);
    expect(events).toEqual(h.decisions().map((d) => `${d.reason}: ${d.message}`));
    expect(h.stored()?.rolloutStartedAt).toBe(started?.rolloutStartedAt);
  });

  it('writes the status only on the release it decided from: a change meanwhile is a conflict, decided again', async () => {
    const h = harness();
    await h.reconciler.reconcile(KEY);
    h.kube.deliver();
    const before = h.stored();
    // someone else writes the status after the cache saw the release (another controller, kubectl)
    await h.server.writeReleaseStatus(REF, { ...before, message: 'written by someone else' });
    h.advance(1_000);
    const events = h.server.events.length;
    const next = await h.reconciler.reconcile(KEY);
    expect(h.stored()?.message).toBe('written by someone else');
    expect(h.server.events).toHaveLength(events);
    expect(next).not.toBeNull();
    expect(next).toBeLessThanOrEqual(1_000);
    // a conflict is how optimistic concurrency works, not a failure: nothing at warn or error
    expect(h.logs.filter((l) => ['warn', 'error', 'fatal'].includes(l.level)).map((l) => l.msg)).toEqual([]);
    expect(h.logs.map((l) => l.msg)).toContain('the release changed since it was read; deciding again');
    // with the cache caught up, the decision is made once, from what is really there
    h.kube.deliver();
    await h.reconciler.reconcile(KEY);
    expect(h.stored()?.message).not.toBe('written by someone else');
    expect(h.server.events).toHaveLength(events + 1);
  });
});
