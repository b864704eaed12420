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
