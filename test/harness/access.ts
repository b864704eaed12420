/**
 * What RBAC lets a ServiceAccount do, asked of the API server's own authorizer (SubjectAccessReview),
 * and the RBAC attributes of an API request as the authorizer derives them from its method and path.
 */
import type { KubeEnv, ServiceAccountRef } from './kube-env.js';
import { kubeRequest } from './kube-http.js';
import { waitUntil } from './wait.js';

/** One request in RBAC's terms. */
export interface Access {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export const describeAccess = (a: Access): string =>
  `${a.verb} ${a.resource}${a.subresource ? `/${a.subresource}` : ''}` +
  `${a.group ? `.${a.group}` : ''}${a.namespace ? ` in ${a.namespace}` : ' (cluster-wide)'}`;

/**
 * The attributes the authorizer checks for a request, as the API server's request-info resolver
 * derives them; undefined for non-resource paths such as /version and discovery.
 */
export function accessOf(method: string, url: string): Access | undefined {
  const { pathname, searchParams } = new URL(url, 'http://api');
  const parts = pathname.split('/').filter(Boolean);
  let group: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    group = '';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1] ?? '';
    rest = parts.slice(3);
  } else {
    return undefined;
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource, name, subresource] = rest;
  if (resource === undefined) return undefined;
  const watch = searchParams.get('watch') === 'true' || searchParams.get('watch') === '1';
  const verb =
    method === 'GET'
      ? watch
        ? 'watch'
        : name === undefined
          ? 'list'
          : 'get'
      : method === 'POST'
        ? 'create'
        : method === 'PUT'
          ? 'update'
          : method === 'PATCH'
            ? 'patch'
            : name === undefined
              ? 'deletecollection'
              : 'delete';
  return {
    verb,
    group,
    resource,
    ...(subresource === undefined ? {} : { subresource }),
    ...(namespace === undefined ? {} : { namespace }),
    // RBAC rules of canaria name no objects; the name only matters for get/update/patch/delete
    ...(name === undefined || verb === 'create' ? {} : { name }),
  };
}

/** Whether the API server's authorizer allows the ServiceAccount this access. */
export async function isAllowed(env: KubeEnv, account: ServiceAccountRef, access: Access): Promise<boolean> {
  const response = await kubeRequest(env.admin, {
    method: 'POST',
    path: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
    body: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: `system:serviceaccount:${account.namespace}:${account.name}`,
        groups: [
          'system:serviceaccounts',
          `system:serviceaccounts:${account.namespace}`,
          'system:authenticated',
        ],
        resourceAttributes: access,
      },
    },
  });
  if (response.status !== 201) {
    throw new Error(
      `SubjectAccessReview failed with HTTP ${response.status}: ${JSON.stringify(response.body)}`,
    );
  }
  return (response.body as { status?: { allowed?: boolean } }).status?.allowed === true;
}

/** Waits until new bindings have reached the authorizer: it sees them a moment after they are written. */
export async function waitForAccess(
  env: KubeEnv,
  account: ServiceAccountRef,
  access: Access,
  timeoutMs = 20_000,
): Promise<void> {
  await waitUntil(
    `${account.namespace}/${account.name} to be allowed to ${describeAccess(access)}`,
    () => isAllowed(env, account, access),
    { deadline: Date.now() + timeoutMs, intervalMs: 250 },
  );
}
