import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A pass-through HTTP proxy between the worker and the platform that can lose answers: the request reaches the
 * platform and is processed, then the connection is reset instead of the answer being sent back. The emulator's
 * faults all fail a request before it is processed; a timeout, a gateway reset or a worker crash after the write
 * is the other half of reality, and the one that tests whether a retried write recognises its own first attempt.
 */
export class LossyProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private armed: Array<{ method: string; pathPrefix: string; remaining: number }> = [];
  /** Answers of processed (2xx) requests that were dropped. */
  lost = 0;

  constructor(private readonly target: string) {}

  async start(): Promise<string> {
    const upstream = new URL(this.target);
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const up = request(
          { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
          (upRes: IncomingMessage) => {
            const body: Buffer[] = [];
            upRes.on('data', (c: Buffer) => body.push(c));
            upRes.on('end', () => {
              const status = upRes.statusCode ?? 502;
              if (status >= 200 && status < 300 && this.take(req.method ?? '', req.url ?? '')) {
                this.lost += 1;
                req.socket.destroy();
                return;
              }
              res.writeHead(status, upRes.headers);
              res.end(Buffer.concat(body));
            });
          },
        );
        up.on('error', () => req.socket.destroy());
        up.end(Buffer.concat(chunks));
      });
    });
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The answers of the next `times` processed `method` requests under `pathPrefix` are lost. */
  loseAnswers(method: string, pathPrefix: string, times: number): void {
    this.armed.push({ method: method.toUpperCase(), pathPrefix, remaining: times });
  }

  private take(method: string, path: string): boolean {
    const i = this.armed.findIndex((a) => a.method === method && path.startsWith(a.pathPrefix));
    if (i < 0) return false;
    if (--this.armed[i].remaining <= 0) this.armed.splice(i, 1);
    return true;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
