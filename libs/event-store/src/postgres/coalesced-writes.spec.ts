import net from 'node:net';
import { Pool } from 'pg';
import { clientSocket, coalesceWrites } from './coalesced-writes';

/** A connected socket pair on loopback; what the far end receives is collected. */
const socketPair = async (): Promise<{ socket: net.Socket; received: () => string; close: () => Promise<void> }> => {
  let text = '';
  let far: net.Socket | undefined;
  const server = net.createServer((s) => {
    far = s;
    s.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  return {
    socket,
    received: () => text,
    close: async () => {
      socket.destroy();
      far?.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};

/** How many times the socket handed data to the system (one write or one writev each). */
const countHandOffs = (socket: net.Socket): { readonly count: number } => {
  const counted = { count: 0 };
  const internals = socket as unknown as Record<'_write' | '_writev', (...args: unknown[]) => unknown>;
  for (const name of ['_write', '_writev'] as const) {
    const original = internals[name].bind(socket);
    internals[name] = (...args: unknown[]) => {
      counted.count++;
      return original(...args);
    };
  }
  return counted;
};

const nextTick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('coalesceWrites', () => {
  it('sends the writes of one tick in one hand-off, in order, and those of the next tick in another', async () => {
    const pair = await socketPair();
    try {
      coalesceWrites(pair.socket);
      const handOffs = countHandOffs(pair.socket);
      for (const part of ['P', 'B', 'D', 'E', 'S']) pair.socket.write(part);
      await nextTick();
      expect(handOffs.count).toBe(1);
      pair.socket.write('1');
      pair.socket.write('2');
      await nextTick();
      expect(handOffs.count).toBe(2);
      await new Promise<void>((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error(`received only ${pair.received()}`)), 10_000);
        const poll = (): void => {
          if (pair.received() === 'PBDES12') {
            clearTimeout(deadline);
            resolve();
          } else setTimeout(poll, 5);
        };
        poll();
      });
    } finally {
      await pair.close();
    }
  });

  it('finds the socket of a node-postgres client (the internal it relies on is still there)', () => {
    const pool = new Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none' });
    const client = new (pool as unknown as { Client: new (o: object) => unknown }).Client({});
    expect(clientSocket(client)).toBeInstanceOf(net.Socket);
    expect(clientSocket({})).toBeUndefined();
    void pool.end();
  });
});
