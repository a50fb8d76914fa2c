import { createServer, type Server } from 'node:http';
import type { RotationMetrics } from './registry';

/**
 * One Prometheus endpoint for the worker: the service's own metrics, followed by the Temporal runtime's
 * (scraped from its exporter on an internal loopback port).
 */
export async function startMetricsServer(opts: { port: number; host?: string; metrics: RotationMetrics; runtimeMetricsUrl?: string }): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; metrics are at /metrics\n');
      return;
    }
    void (async () => {
      let runtime = '';
      if (opts.runtimeMetricsUrl) {
        try {
          const r = await fetch(opts.runtimeMetricsUrl, { signal: AbortSignal.timeout(2000) });
          runtime = await r.text();
        } catch {
          runtime = '# Temporal runtime metrics unavailable\n';
        }
      }
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(`${opts.metrics.render()}${runtime}`);
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => resolve());
  });
  return server;
}
