import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';

/** Reads one key of one Secret; undefined when the Secret or the key is missing. */
export type SecretReader = (
  namespace: string,
  name: string,
  key: string,
  signal: AbortSignal,
) => Promise<string | undefined>;

/**
 * Reads a Secret from the API server at send time (no cache, no watch): the controller then needs
 * only `get` on Secrets, and a rotated webhook URL takes effect at the next notification.
 */
export function apiSecretReader(kubeConfig: KubeConfig): SecretReader {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  return async (namespace, name, key) => {
    try {
      const secret = await core.readNamespacedSecret({ name, namespace });
      const value = secret.data?.[key];
      return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8').trim();
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  };
}
