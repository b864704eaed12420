import type { ControllerConfig } from '../../controller/config.js';
import { runController } from '../../controller/run.js';
import { KubeError } from '../../kube/errors.js';
import { createLogger } from '../../telemetry/logger.js';
import { EXIT } from '../exit-codes.js';
import { explainMissingKind } from '../cluster/errors.js';

/** What a start-up failure means for the operator, in one sentence. */
export function explainStartFailure(err: unknown): string {
  const crds = explainMissingKind(err, 'the cluster');
  if (crds !== undefined) return crds;
  if (err instanceof KubeError && err.code === 'Forbidden') {
    return `the controller's ServiceAccount may not read what it needs (${err.message}); install it with the chart, whose RBAC is charts/canaria/files/rbac-*.yaml (routers.istio.enabled and routers.gatewayAPI.enabled pick the routers' rules)`;
  }
  return `canaria could not start: ${err instanceof Error ? err.message : String(err)}`;
}

/**
 * Runs the controller; a failure to start (no cluster, CRDs missing, RBAC) is logged as one fatal
 * JSON line, in the same format as every other line, instead of a stack trace on stderr.
 */
export async function startController(config: ControllerConfig): Promise<number> {
  try {
    return await runController(config);
  } catch (err) {
    const logger = createLogger({ level: config.logLevel });
    // an API server's answer needs no stack trace; anything else keeps it, for a bug report
    logger.fatal(
      err instanceof KubeError
        ? { cause: { code: err.code, status: err.status, message: err.message } }
        : { err },
      explainStartFailure(err),
    );
    return EXIT.failed;
  }
}
