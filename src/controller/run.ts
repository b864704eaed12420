import { connectKube, loadKubeConfig } from '../kube/client.js';
import { watchedKinds } from '../kube/resources.js';
import { ROUTERS } from '../routers/registry.js';
import { MetricsRouter } from '../metrics/registry.js';
import { DEFAULT_WINDOW_GRANULARITY_MS } from '../metrics/prometheus-provider.js';
import { createLogger } from '../telemetry/logger.js';
import { ControllerMetrics } from '../telemetry/metrics.js';
import { startTelemetryServer } from '../telemetry/server.js';
import type { ControllerConfig } from './config.js';
import { Controller } from './controller.js';
import { LeaderElector } from './leader.js';
import { MeasureBatcher } from './measure-batcher.js';
import { owns, shardInfo, UNSHARDED } from './shard.js';
import { Reconciler } from './reconciler.js';
import { NotificationMetrics } from '../notify/metrics.js';
import { apiSecretReader } from '../notify/secrets.js';
import { Notifications } from '../notify/service.js';
import { HookMetrics } from '../hooks/metrics.js';
import { apiSecretData } from '../hooks/secrets.js';
import { HookRunner } from './hooks.js';

/** A pod gets SIGKILL 30 s after SIGTERM by default: finish before that. */
export const SHUTDOWN_BUDGET_MS = 25_000;

/**
 * Runs the controller until SIGTERM/SIGINT or the loss of leadership. Caches sync on every replica
 * (a standby takes over warm); only the leader reconciles. Resolves with the process exit code.
 */
export async function runController(config: ControllerConfig): Promise<number> {
  const logger = createLogger({ level: config.logLevel });
  const kubeConfig = loadKubeConfig({
    ...(config.kubeconfig ? { kubeconfig: config.kubeconfig } : {}),
    ...(config.context ? { context: config.context } : {}),
  });
  const metrics = new ControllerMetrics({ defaultMetrics: true });
  const kube = await connectKube({
    kubeConfig,
    namespaces: config.namespaces,
    logger,
    // managedFields then tell which shard wrote a release's status
    ...(config.shard === UNSHARDED ? {} : { fieldManager: `canaria-shard-${config.shard.id}` }),
    kinds: watchedKinds({ ...config, routerKinds: config.routers.flatMap((key) => ROUTERS[key].kinds) }),
    onRequest: (call) => {
      metrics.kubeRequest(call);
    },
  });
  const notifications = new Notifications({
    sinks: config.notificationSinks,
    ...(config.releaseNotifications ? { secrets: apiSecretReader(kubeConfig) } : {}),
    metrics: new NotificationMetrics(metrics.registry),
    logger: logger.child({ component: 'notifications' }),
  });
  const reconciler = new Reconciler({
    kube,
    measurer: new MeasureBatcher(
      new MetricsRouter(
        config.metricsProviders.map((p) => ({
          ...p,
          settings: {
            ...p.settings,
            onQuery: (query) => {
              metrics.prometheusQuery(query);
            },
          },
        })),
      ),
    ),
    metricsProviders: config.metricsProviders.map((p) => p.name),
    clock: () => new Date(),
    logger,
    metrics,
    trackSecrets: config.trackSecrets,
    managedMode: config.managedMode,
    routers: config.routers,
    queryGranuleMs: queryGranuleMs(config),
    notifications,
    hooks: new HookRunner({
      kube,
      logger: logger.child({ component: 'hooks' }),
      readSecret: apiSecretData(kubeConfig),
      metrics: new HookMetrics(metrics.registry),
    }),
  });
  const controller = new Controller({
    kube,
    reconciler,
    logger,
    metrics,
    concurrency: config.concurrency,
    resyncSchedule: config.resync,
    ...(config.shard === UNSHARDED ? {} : { owns: (release) => owns(config.shard, release) }),
  });
  shardInfo(metrics.registry, config.shard);
  const server = await startTelemetryServer({
    port: config.metricsPort,
    metrics,
    ready: () => kube.synced(),
    logger,
  });
  logger.info(
    {
      namespaces: config.namespaces.length ? config.namespaces : 'all',
      metricsProviders: Object.fromEntries(config.metricsProviders.map((p) => [p.name, p.settings.address])),
      leaderElection: config.leaderElection.enabled,
      shard: config.shard.id,
      lease: config.leaderElection.name,
      managedMode: config.managedMode,
      routers: config.routers,
      metricsPort: server.port,
      notificationSinks: config.notificationSinks.map((s) => `${s.name} (${s.type}, ${s.severity})`),
    },
    'canaria starting',
  );

  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  let elector: LeaderElector | undefined;
  let stopping = false;
  const shutdown = async (code: number, why: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ why }, 'shutting down');
    const hardStop = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      finish(code || 1);
    }, SHUTDOWN_BUDGET_MS);
    hardStop.unref();
    await controller.stop();
    // what has not been sent by now is dropped: the decisions are in the status and the Events
    await notifications.close();
    await elector?.release();
    await kube.stop();
    await server.close();
    clearTimeout(hardStop);
    finish(code);
  };
  process.once('SIGTERM', () => void shutdown(0, 'SIGTERM'));
  process.once('SIGINT', () => void shutdown(0, 'SIGINT'));

  try {
    await kube.start();
  } catch (err) {
    // nothing to reconcile without caches (a missing CRD, RBAC): let go of the port and the watches
    await kube.stop();
    await server.close();
    throw err;
  }
  logger.info('caches synced');
  if (config.leaderElection.enabled) {
    elector = new LeaderElector({
      kubeConfig,
      namespace: config.leaderElection.namespace,
      name: config.leaderElection.name,
      identity: config.leaderElection.identity,
      logger,
    });
    void elector.run({
      onStartedLeading: () => {
        logger.info({ identity: config.leaderElection.identity }, 'became the leader');
        controller.start();
      },
      onStoppedLeading: () => {
        // another replica may already be acting: stop at once rather than race it
        void shutdown(1, 'lost leadership');
      },
    });
  } else {
    controller.start();
  }
  return finished;
}

/**
 * Windows end on minute boundaries (each release's interval, when shorter), or finer when a metrics
 * provider rounds its windows finer. As the next analysis is due one interval after the last one's
 * end, the releases of a namespace then analyse at one shared time and share one query per metric
 * type; only the first analysis of a step may measure up to one granule less than its interval.
 */
function queryGranuleMs(config: ControllerConfig): number {
  const finest = Math.min(
    ...config.metricsProviders.map((p) => p.settings.windowGranularityMs ?? DEFAULT_WINDOW_GRANULARITY_MS),
  );
  return Math.min(QUERY_GRANULE_MS, finest);
}
const QUERY_GRANULE_MS = 60_000;
