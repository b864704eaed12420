import {
  AppsV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1DeploymentStatus,
} from '@kubernetes/client-node';

/**
 * Plays the part of the deployment controller and the kubelets, which the e2e environment does not
 * run: writes the status a finished rollout of the Deployment's current generation would have, with
 * `readyReplicas` of its replicas ready (all by default). Goes through the status subresource, as
 * the real controllers do; a merge patch, so it replaces the conditions list as a whole.
 */
export async function markDeploymentReady(
  kubeConfig: KubeConfig,
  namespace: string,
  name: string,
  readyReplicas?: number,
): Promise<V1DeploymentStatus> {
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  const deployment = await apps.readNamespacedDeployment({ namespace, name });
  const replicas = deployment.spec?.replicas ?? 1;
  const ready = readyReplicas ?? replicas;
  const now = new Date().toISOString();
  const available = ready >= replicas;
  // Plain JSON, not client-node's model classes: the body of a patch goes out as written.
  const status = {
    observedGeneration: deployment.metadata?.generation ?? 1,
    replicas,
    updatedReplicas: replicas,
    readyReplicas: ready,
    availableReplicas: ready,
    unavailableReplicas: replicas - ready,
    conditions: [
      {
        type: 'Available',
        status: available ? 'True' : 'False',
        reason: available ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable',
        lastUpdateTime: now,
        lastTransitionTime: now,
      },
      {
        type: 'Progressing',
        status: 'True',
        reason: available ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated',
        lastUpdateTime: now,
        lastTransitionTime: now,
      },
    ],
  };
  const updated = await apps.patchNamespacedDeploymentStatus(
    { namespace, name, body: { status } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  if (updated.status === undefined)
    throw new Error(`Deployment ${namespace}/${name} came back without a status`);
  return updated.status;
}

/**
 * Plays the deployment controller for every Deployment of a namespace, in the background: whenever
 * a spec changes (a new template, a scale), its status soon shows that generation rolled out and
 * ready, unless its name is in `stuck`.
 */
export function startDeploymentController(
  kubeConfig: KubeConfig,
  namespace: string,
  options: { intervalMs?: number; stuck?: Set<string> } = {},
): { stuck: Set<string>; stop(): Promise<void> } {
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  const stuck = options.stuck ?? new Set<string>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const list = await apps.listNamespacedDeployment({ namespace }).catch(() => undefined);
      for (const d of list?.items ?? []) {
        const name = d.metadata?.name ?? '';
        const replicas = d.spec?.replicas ?? 1;
        const ready = stuck.has(name) ? 0 : replicas;
        const current =
          d.status?.observedGeneration === d.metadata?.generation &&
          (d.status?.replicas ?? 0) === replicas &&
          (d.status?.readyReplicas ?? 0) === ready;
        if (!current) await markDeploymentReady(kubeConfig, namespace, name, ready).catch(() => undefined);
      }
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 200));
    }
  })();
  return {
    stuck,
    async stop() {
      running = false;
      await loop;
    },
  };
}
