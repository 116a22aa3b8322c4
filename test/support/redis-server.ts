import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { describeRequiring } from './ci';
import { freePort } from './free-port';

/**
 * A private redis-server for one test file, on a free port, with nothing persisted, so a test can kill it, flush
 * it and restart it empty. Test-only. Under CI (CI=true or CI=1) a missing redis-server is a failure, never a skip.
 */
export class RedisServer {
  private child: ChildProcess | undefined;
  port = 0;

  static available(): boolean {
    return spawnSync('redis-server', ['--version']).status === 0;
  }

  /** For `describe` blocks: throws under CI when redis-server is missing; otherwise says loudly that it skips. */
  static describeWithRedis(name: string, fn: () => void): void {
    describeRequiring({ what: 'redis-server on PATH', available: RedisServer.available }, name, fn);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(extraArgs: string[] = []): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs], {
      stdio: 'ignore',
    });
    await waitForPort(this.port);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}

const waitForPort = async (port: number, timeoutMs = 5000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`redis-server did not listen on ${port}`);
};
