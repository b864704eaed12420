import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';

/** Every key of one Secret, decoded; undefined when the Secret does not exist. */
export type SecretData = (namespace: string, name: string) => Promise<Record<string, string> | undefined>;

/** Decodes a Secret's `data` (base64) and `stringData`; header values lose surrounding whitespace. */
export function decodeSecret(object: { data?: unknown; stringData?: unknown }): Record<string, string> {
  const out: Record<string, string> = {};
  if (object.data && typeof object.data === 'object') {
    for (const [key, value] of Object.entries(object.data as Record<string, unknown>)) {
      if (typeof value === 'string') out[key] = Buffer.from(value, 'base64').toString('utf8').trim();
    }
  }
  if (object.stringData && typeof object.stringData === 'object') {
    for (const [key, value] of Object.entries(object.stringData as Record<string, unknown>)) {
      if (typeof value === 'string') out[key] = value.trim();
    }
  }
  return out;
}

/**
 * Reads a Secret from the API server when the controller does not watch Secrets (it watches them
 * only with --track-secrets): a hook's headers are then read at each call, so a rotated token
 * takes effect at the next one.
 */
export function apiSecretData(kubeConfig: KubeConfig): SecretData {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  return async (namespace, name) => {
    try {
      const secret = await core.readNamespacedSecret({ name, namespace });
      return decodeSecret(secret);
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  };
}
