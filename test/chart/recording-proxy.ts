/**
 * A plain-HTTP proxy in front of the API server that records every request passing through it and
 * the status it got: the controller, pointed at it, shows exactly which API calls it makes and which
 * of them RBAC refused. Watches stream through untouched.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { KubeEndpoint } from '../harness/kube-http.js';

export interface RecordedRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  status: number;
}

export interface RecordingProxy {
  /** http://127.0.0.1:<port>, to put in a kubeconfig instead of the API server's URL. */
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startRecordingProxy(
  target: Pick<KubeEndpoint, 'serverUrl' | 'caPem'>,
): Promise<RecordingProxy> {
  const requests: RecordedRequest[] = [];
  const forward = (incoming: IncomingMessage, outgoing: ServerResponse): void => {
    const url = incoming.url ?? '/';
    const upstream = httpsRequest(
      new URL(url, target.serverUrl),
      {
        method: incoming.method ?? 'GET',
        ca: target.caPem,
        headers: { ...incoming.headers, host: new URL(target.serverUrl).host },
      },
      (response) => {
        requests.push({ method: incoming.method ?? 'GET', url, status: response.statusCode ?? 0 });
        outgoing.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(outgoing);
      },
    );
    upstream.on('error', (error) => {
      requests.push({ method: incoming.method ?? 'GET', url, status: 0 });
      if (!outgoing.headersSent) outgoing.writeHead(502);
      outgoing.end(error.message);
    });
    // a client that goes away (a watch ended, the controller stopped) ends the upstream call too
    outgoing.on('close', () => upstream.destroy());
    incoming.pipe(upstream);
  };
  const server = createServer(forward);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
