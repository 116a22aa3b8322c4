import type { Socket } from 'node:net';

/**
 * Makes the writes a socket receives in one tick go out as one: the first write of a tick corks the socket and the
 * next tick uncorks it. node-postgres corks a query's own messages (Parse, Bind, Describe, Execute, Sync), but every
 * query is still a write of its own: the appending transaction's pipelined BEGIN, head lock, batch statement and
 * COMMIT were four system calls and four segments waking the server, on the writer connection every process
 * serialises its appends through. The messages and their order are unchanged; they are only sent together.
 */
export const coalesceWrites = (socket: Socket): void => {
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  socket.write = ((...args: unknown[]): boolean => {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    return write(...args);
  });
};

/** The socket under a node-postgres client (an internal of pg 8 with no public accessor); undefined if it moved. */
export const clientSocket = (client: unknown): Socket | undefined => {
  const stream = (client as { connection?: { stream?: unknown } }).connection?.stream;
  return stream !== null && typeof stream === 'object' && typeof (stream as Socket).cork === 'function' ? (stream as Socket) : undefined;
};
