import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/**
 * GET /metrics of the worker process (WORKER_METRICS_PORT): what Prometheus scrapes of the sagas and the projection
 * this process runs, and of the process itself (event loop, heap, RSS). Nothing else is served: any other request is
 * a 404, any method but GET a 405.
 */
export class MetricsEndpoint {
  private constructor(private readonly server: http.Server) {}

  static async listen(registry: Registry, host: string, port: number): Promise<MetricsEndpoint> {
    const server = http.createServer((req, res) => {
      if ((req.url ?? '').split('?')[0] !== '/metrics') return void res.writeHead(404).end();
      if (req.method !== 'GET') return void res.writeHead(405, { allow: 'GET' }).end();
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new MetricsEndpoint(server);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
