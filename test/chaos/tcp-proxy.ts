import net from 'node:net';
import { freePort } from '../support/free-port';
import { Rng, sleep } from './rng';

export interface ProxyChaos {
  /** Probability that a chunk is held back before it is forwarded, and the range of the delay. */
  readonly delayChance: number;
  readonly delayMs: readonly [number, number];
  /** Per chunk: probability that the connection is closed (FIN both ways) instead of forwarding it. */
  readonly dropChance: number;
  /** Per chunk: probability that the connection is reset (RST both ways) instead of forwarding it. */
  readonly resetChance: number;
}

export const CALM: ProxyChaos = { delayChance: 0, delayMs: [0, 0], dropChance: 0, resetChance: 0 };

interface Pair {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
}

/**
 * A small TCP proxy between the api and Redis, for faults a clean kill does not produce: chunks held back (latency,
 * stalls), connections closed or reset mid-command. Each direction is a FIFO, so what is forwarded keeps its order
 * (as TCP would); a drop or reset ends the pair. Counts what it did, for the run's summary.
 */
export class ChaosProxy {
  private server: net.Server | undefined;
  private readonly pairs = new Set<Pair>();
  private chaos: ProxyChaos = CALM;
  port = 0;
  readonly injected = { delays: 0, drops: 0, resets: 0 };

  constructor(
    private readonly upstreamPort: number,
    private rng: Rng,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** From now on, misbehave like this (CALM to heal), drawing from `rng`. */
  set(chaos: ProxyChaos, rng?: Rng): void {
    this.chaos = chaos;
    if (rng) this.rng = rng;
  }

  get faults(): number {
    return this.injected.delays + this.injected.drops + this.injected.resets;
  }

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    this.server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  private accept(client: net.Socket): void {
    const upstream = net.connect(this.upstreamPort, '127.0.0.1');
    const pair = { client, upstream };
    this.pairs.add(pair);
    const end = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
    this.pipe(pair, client, upstream);
    this.pipe(pair, upstream, client);
  }

  /** Forwards `from` → `to` chunk by chunk through a FIFO, applying the current chaos to each chunk. */
  private pipe(pair: Pair, from: net.Socket, to: net.Socket): void {
    let chain = Promise.resolve();
    from.on('data', (chunk: Buffer) => {
      const c = this.chaos;
      const r = this.rng();
      if (r < c.resetChance) {
        this.injected.resets++;
        this.pairs.delete(pair);
        pair.client.resetAndDestroy();
        pair.upstream.resetAndDestroy();
        return;
      }
      if (r < c.resetChance + c.dropChance) {
        this.injected.drops++;
        this.pairs.delete(pair);
        pair.client.end();
        pair.upstream.end();
        setTimeout(() => {
          pair.client.destroy();
          pair.upstream.destroy();
        }, 50).unref();
        return;
      }
      const delay = this.rng() < c.delayChance ? Math.round(c.delayMs[0] + this.rng() * (c.delayMs[1] - c.delayMs[0])) : 0;
      if (delay > 0) this.injected.delays++;
      chain = chain.then(async () => {
        if (delay > 0) await sleep(delay);
        if (!to.destroyed && to.writable) to.write(chunk);
      });
    });
  }

  /** Cuts every open connection (as a crashed Redis host would). */
  cutAll(): void {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    this.pairs.clear();
  }

  async stop(): Promise<void> {
    this.cutAll();
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
