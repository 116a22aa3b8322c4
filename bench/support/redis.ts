import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { freePort, Placement, sleep } from './processes';

/** A redis-server the benchmark started for one row: no persistence, a free port, pinned to the SUT core like a server. */
export interface PrivateRedis {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

export const redisServerOnPath = (): boolean => spawnSync('redis-server', ['--version']).status === 0;

const listening = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });

/**
 * Starts redis-server with default settings and nothing persisted on a free port, pinned to the SUT core (a shared,
 * unpinned Redis tends to be woken onto its client's core, the load generator's); resolves once it listens.
 */
export const startPrivateRedis = async (placement: Placement): Promise<PrivateRedis> => {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const child: ChildProcess = placement.taskset ? spawn('taskset', ['-c', String(placement.sutCore), 'redis-server', ...args], { stdio: 'ignore' }) : spawn('redis-server', args, { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await exited;
  };
  const deadline = Date.now() + 5000;
  while (!(await listening(port))) {
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop();
      throw new Error(`redis-server did not listen on ${port}`);
    }
    await sleep(25);
  }
  // taskset execs redis-server in place, so this is the server's pid (what /proc readings need).
  return { url: `redis://127.0.0.1:${port}`, pid: child.pid ?? 0, stop };
};
