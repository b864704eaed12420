import { request } from 'node:https';

/** Where and as whom to call a kube-apiserver. */
export interface KubeEndpoint {
  readonly serverUrl: string;
  /** PEM bundle the server's certificate chains to. */
  readonly caPem: string;
  readonly token: string;
}

export interface KubeResponse {
  readonly status: number;
  /** Parsed JSON when the server sent JSON, else the raw text. */
  readonly body: unknown;
}

export interface KubeRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly path: string;
  readonly body?: unknown;
  readonly contentType?: string;
  /** Default application/json; a Table is asked for with `application/json;as=Table;v=v1;g=meta.k8s.io`. */
  readonly accept?: string;
  readonly timeoutMs?: number;
}

/**
 * One raw API call. The harness uses it where client-node's typed models would get in the way: it
 * round-trips CRDs through generated classes, and a raw status code is what some tests assert on.
 */
export function kubeRequest(endpoint: KubeEndpoint, call: KubeRequest): Promise<KubeResponse> {
  const url = new URL(call.path, endpoint.serverUrl);
  const payload = call.body === undefined ? undefined : JSON.stringify(call.body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: call.method,
        ca: endpoint.caPem,
        headers: {
          authorization: `Bearer ${endpoint.token}`,
          accept: call.accept ?? 'application/json',
          ...(payload === undefined
            ? {}
            : {
                'content-type': call.contentType ?? 'application/json',
                'content-length': Buffer.byteLength(payload),
              }),
        },
        signal: AbortSignal.timeout(call.timeoutMs ?? 30_000),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const isJson = (res.headers['content-type'] ?? '').includes('json');
          resolve({
            status: res.statusCode ?? 0,
            body: isJson && text !== '' ? (JSON.parse(text) as unknown) : text,
          });
        });
      },
    );
    req.on('error', (cause: Error) => {
      reject(new Error(`${call.method} ${url.href} failed: ${cause.message}`, { cause }));
    });
    req.end(payload);
  });
}
