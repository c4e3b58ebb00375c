/**
 * The operator's plain-HTTP endpoints for the kubelet and Prometheus: /healthz (the process serves),
 * /readyz (a standby is ready once it waits for the lease; the leader once its informers synced) and
 * /metrics. No Kubernetes API is served here, so no TLS or auth: expose it inside the cluster only.
 */
import http from 'node:http';
import type { Registry } from 'prom-client';

export interface HealthSource {
  ready(): boolean;
}

export function startOperatorHttp(
  registry: Registry,
  health: HealthSource,
  host: string,
  port: number,
): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz' || path === '/livez') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
    } else if (path === '/readyz') {
      const ok = health.ready();
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(ok ? 'ok' : 'informers not synced');
    } else if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(err.message),
      );
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
