import { connectKube, loadKubeConfig } from '../kube/client.js';
import { watchedKinds } from '../kube/resources.js';
import { MetricsRouter } from '../metrics/registry.js';
import { createLogger } from '../telemetry/logger.js';
import { ControllerMetrics } from '../telemetry/metrics.js';
import { startTelemetryServer } from '../telemetry/server.js';
import type { ControllerConfig } from './config.js';
import { Controller } from './controller.js';
import { LeaderElector } from './leader.js';
import { MeasureBatcher } from './measure-batcher.js';
import { Reconciler } from './reconciler.js';
import { NotificationMetrics } from '../notify/metrics.js';
import { apiSecretReader } from '../notify/secrets.js';
import { Notifications } from '../notify/service.js';

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
    kinds: watchedKinds(config),
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
    notifications,
  });
  const controller = new Controller({
    kube,
    reconciler,
    logger,
    metrics,
    concurrency: config.concurrency,
    resyncSchedule: config.resync,
  });
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
      managedMode: config.managedMode,
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
