import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeError } from '../kube/errors.js';
import { KubeHttp } from '../kube/http.js';
import { jsonEqual } from '../kube/json-patch.js';
import type { Logger } from '../telemetry/logger.js';

export interface LeaderElectorOptions {
  kubeConfig: KubeConfig;
  /** Namespace and name of the coordination.k8s.io/v1 Lease. */
  namespace: string;
  name: string;
  /** Unique per replica, e.g. the pod name. */
  identity: string;
  /** How long followers wait, after the lease last changed, before taking it over. */
  leaseDurationMs?: number;
  /** How long the leader keeps trying to renew before it gives up leading. */
  renewDeadlineMs?: number;
  /** How often everyone tries to acquire or renew. */
  retryPeriodMs?: number;
  logger: Logger;
  /** Time written into the lease (acquireTime, renewTime); expiry and deadlines use a monotonic clock. */
  clock?: () => Date;
}

export interface LeaderCallbacks {
  /** Leadership begins; `signal` aborts when it ends. */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  /** Leadership ended: lost, or given up by release(). The process is expected to exit. */
  onStoppedLeading(): void;
}

/** The fields of a coordination.k8s.io/v1 Lease's spec that leader election reads and writes. */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/**
 * Leader election on a Lease, with client-go's rules. A follower takes the lease over when it is free
 * or when it has not changed for the holder's leaseDuration, timed on the follower's own clock from
 * when it saw the last change (so clock skew between replicas does not matter). Writes are replaces
 * guarded by resourceVersion: a 409 means another replica won. The leader renews every retryPeriod and
 * stops leading when it could not renew for renewDeadline, or at once when someone else holds the lease.
 */
export class LeaderElector {
  private readonly http: KubeHttp;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly clock: () => Date;
  private readonly log: Logger;
  /** The lease spec as last seen, and when (monotonic ms): the basis of expiry. */
  private observed: { spec: LeaseSpec; at: number } | undefined;
  private releasing = new AbortController();
  private running: Promise<void> | undefined;

  constructor(private readonly options: LeaderElectorOptions) {
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (options.identity === '')
      throw new Error('leader election: identity must not be empty; use the pod name');
    if (!(this.retryPeriodMs > 0)) throw new Error('leader election: retryPeriodMs must be > 0');
    if (!(this.renewDeadlineMs > this.retryPeriodMs))
      throw new Error(
        `leader election: renewDeadlineMs (${this.renewDeadlineMs}) must be greater than retryPeriodMs (${this.retryPeriodMs}), so a leader gets more than one try to renew`,
      );
    if (!(this.leaseDurationMs > this.renewDeadlineMs))
      throw new Error(
        `leader election: leaseDurationMs (${this.leaseDurationMs}) must be greater than renewDeadlineMs (${this.renewDeadlineMs}), so a leader stops before others may take over`,
      );
    this.clock = options.clock ?? (() => new Date());
    this.http = new KubeHttp(options.kubeConfig, this.renewDeadlineMs);
    this.log = options.logger.child({
      component: 'leader-election',
      lease: `${options.namespace}/${options.name}`,
      identity: options.identity,
    });
  }

  /**
   * Campaigns until this replica leads, leads until the lease is lost or release() is called, then
   * resolves. `onStoppedLeading` is called whenever leadership ends.
   */
  run(callbacks: LeaderCallbacks): Promise<void> {
    if (this.running) throw new Error('leader election: run() is already running');
    this.releasing = new AbortController();
    this.running = this.campaign(callbacks).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /**
   * Stops campaigning; a leader stops leading and frees the lease so a successor takes over at once,
   * instead of after leaseDuration. Call it on SIGTERM, after the work it guards has stopped.
   */
  async release(): Promise<void> {
    this.releasing.abort();
    await this.running;
  }

  private async campaign(callbacks: LeaderCallbacks): Promise<void> {
    this.log.info('campaigning for leadership');
    if (!(await this.acquire())) return;
    if (this.releaseRequested()) {
      // release() came while the lease was being won: hand it straight back without starting work.
      await this.giveBack();
      return;
    }
    this.log.info('started leading');
    const leading = new AbortController();
    // Not awaited: the work usually runs until `signal` aborts, and renewals must go on meanwhile.
    const work = (async () => callbacks.onStartedLeading(leading.signal))();
    work.catch((error: unknown) => {
      this.log.error({ err: error }, 'onStartedLeading failed');
    });
    await this.renew();
    leading.abort();
    const released = this.releaseRequested();
    if (released) await this.giveBack();
    this.log.info({ released }, 'stopped leading');
    callbacks.onStoppedLeading();
  }

  // A method, not a property read: TypeScript would keep a value narrowed before an await.
  private releaseRequested(): boolean {
    return this.releasing.signal.aborted;
  }

  /** True once this replica holds the lease; false when release() came first. */
  private async acquire(): Promise<boolean> {
    while (!this.releaseRequested()) {
      try {
        if ((await this.tryAcquireOrRenew(this.renewDeadlineMs)) === 'ours') return true;
      } catch (error) {
        this.log.warn({ err: error }, 'could not read or write the lease; trying again');
      }
      if (!(await this.pause())) return false;
    }
    return false;
  }

  /** Renews until it cannot for renewDeadline, someone else holds the lease, or release() is called. */
  private async renew(): Promise<void> {
    let renewedAt = performance.now();
    while (await this.pause()) {
      const remainingMs = renewedAt + this.renewDeadlineMs - performance.now();
      try {
        const outcome = await this.tryAcquireOrRenew(Math.max(Math.ceil(remainingMs), 1));
        if (outcome === 'ours') {
          renewedAt = performance.now();
          continue;
        }
        // Someone else believes they lead: leading on until the deadline would mean two leaders.
        if (outcome === 'theirs') {
          this.log.warn({ holder: this.observed?.spec.holderIdentity }, 'the lease is held by someone else');
          return;
        }
        this.log.warn('the lease changed while renewing it; trying again');
      } catch (error) {
        this.log.warn({ err: error }, 'could not renew the lease');
      }
      if (performance.now() - renewedAt >= this.renewDeadlineMs) {
        this.log.error({ renewDeadlineMs: this.renewDeadlineMs }, 'could not renew the lease in time');
        return;
      }
    }
  }

  /** Waits one retry period; false when release() interrupts. */
  private async pause(): Promise<boolean> {
    try {
      await sleep(this.retryPeriodMs, undefined, { signal: this.releasing.signal });
      return true;
    } catch {
      return false;
    }
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.options.namespace}/leases`;
  }

  /** 'ours': acquired or renewed; 'theirs': another holder's lease is current; 'conflict': lost a write race. */
  private async tryAcquireOrRenew(timeoutMs: number): Promise<'ours' | 'theirs' | 'conflict'> {
    const signal = AbortSignal.timeout(timeoutMs);
    const now = this.clock();
    const lease = await this.readLease(signal);
    const leaseDurationSeconds = Math.ceil(this.leaseDurationMs / 1000);
    if (lease === undefined) {
      const spec: LeaseSpec = {
        holderIdentity: this.options.identity,
        leaseDurationSeconds,
        acquireTime: microTime(now),
        renewTime: microTime(now),
        leaseTransitions: 0,
      };
      return this.write(
        'POST',
        this.path,
        { metadata: { name: this.options.name, namespace: this.options.namespace }, spec },
        signal,
      );
    }

    const spec = lease.spec ?? {};
    if (!this.observed || !jsonEqual(this.observed.spec, spec))
      this.observed = { spec, at: performance.now() };
    const holder = spec.holderIdentity ?? '';
    const ours = holder === this.options.identity;
    const expiresAt = this.observed.at + (spec.leaseDurationSeconds ?? 0) * 1000;
    if (holder !== '' && !ours && expiresAt > performance.now()) return 'theirs';

    const next: LeaseSpec = {
      ...spec,
      holderIdentity: this.options.identity,
      leaseDurationSeconds,
      acquireTime: ours && spec.acquireTime !== undefined ? spec.acquireTime : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: ours ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
    };
    if (!ours) this.log.info({ previousHolder: holder || '(none)' }, 'taking over the lease');
    return this.write(
      'PUT',
      `${this.path}/${this.options.name}`,
      { metadata: lease.metadata, spec: next },
      signal,
    );
  }

  private async readLease(signal: AbortSignal): Promise<Lease | undefined> {
    try {
      return await this.http.request<Lease>({
        method: 'GET',
        path: `${this.path}/${this.options.name}`,
        signal,
      });
    } catch (error) {
      if (error instanceof KubeError && error.code === 'NotFound') return undefined;
      throw error;
    }
  }

  /** Creates or replaces the lease; losing the race (409) means someone else wrote first. */
  private async write(
    method: 'POST' | 'PUT',
    path: string,
    lease: Omit<Lease, 'apiVersion' | 'kind'>,
    signal: AbortSignal,
  ): Promise<'ours' | 'conflict'> {
    try {
      const written = await this.http.request<Lease>({
        method,
        path,
        body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', ...lease },
        signal,
      });
      this.observed = { spec: written.spec ?? {}, at: performance.now() };
      return 'ours';
    } catch (error) {
      if (error instanceof KubeError && error.code === 'Conflict') return 'conflict';
      throw error;
    }
  }

  /** Frees the lease if it is still ours: no holder, 1 s duration, as client-go's ReleaseOnCancel. */
  private async giveBack(): Promise<void> {
    try {
      const signal = AbortSignal.timeout(this.renewDeadlineMs);
      const lease = await this.readLease(signal);
      if (lease?.spec?.holderIdentity !== this.options.identity) return;
      const now = microTime(this.clock());
      const spec: LeaseSpec = {
        ...lease.spec,
        holderIdentity: '',
        leaseDurationSeconds: 1,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: lease.spec.leaseTransitions ?? 0,
      };
      await this.http.request({
        method: 'PUT',
        path: `${this.path}/${this.options.name}`,
        body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: lease.metadata, spec },
        signal,
      });
      this.log.info('released the lease');
    } catch (error) {
      this.log.warn({ err: error }, 'could not release the lease; it expires after its duration');
    }
  }
}

/** Lease times are MicroTime: RFC 3339 with exactly six fractional digits, or the API server rejects them. */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
