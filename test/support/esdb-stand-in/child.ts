/**
 * The process the TEST-ONLY EventStoreDB stand-in (NOT EventStoreDB) runs in: started by esdb-stand-in.ts through
 * cli.js with an IPC channel (commands from the test, answers back), or by hand as `node cli.js [--port N]
 * [--no-batch-append] [--stats-period-ms N] [--max-append-size BYTES]`, when it prints `esdb-stand-in ready <url>` and serves until killed.
 */
import pino from 'pino';
import { DelayOptions, STAND_IN_LABEL, StandInServer, startStandInServer } from './stand-in-server';

export interface StandInCommand {
  readonly id: number;
  readonly op: 'events' | 'append' | 'dropNextAppendResponse' | 'delayNextAppend' | 'appendRequests' | 'killConnections' | 'stop' | 'restart' | 'close';
  readonly args: readonly unknown[];
}

export type StandInReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string } | { ready: number };

const flag = (name: string): string | undefined => {
  const at = process.argv.indexOf(name);
  return at < 0 ? undefined : process.argv[at + 1];
};

const run = async (server: StandInServer, command: StandInCommand): Promise<unknown> => {
  switch (command.op) {
    case 'events':
      return server.events();
    case 'append':
      return server.append(command.args[0] as string, command.args[1] as { type: string; data?: unknown; id?: string }[]);
    case 'dropNextAppendResponse':
      return server.dropNextAppendResponse();
    case 'delayNextAppend':
      return server.delayNextAppend(command.args[0] as number, command.args[1] as DelayOptions);
    case 'appendRequests':
      return server.appendRequests();
    case 'killConnections':
      return server.killConnections();
    case 'stop':
      return server.stop();
    case 'restart':
      return server.restart();
    case 'close':
      return server.close();
  }
};

const main = async (): Promise<void> => {
  const viaIpc = typeof process.send === 'function';
  const logger = pino({ name: STAND_IN_LABEL, level: process.env.ESDB_STAND_IN_LOG_LEVEL ?? (viaIpc ? 'silent' : 'info') });
  const statsPeriod = flag('--stats-period-ms');
  const maxAppendSize = flag('--max-append-size');
  const server = await startStandInServer({
    port: Number(flag('--port') ?? 0),
    batchAppend: !process.argv.includes('--no-batch-append'),
    ...(statsPeriod === undefined ? {} : { statsPeriodMs: Number(statsPeriod) }),
    ...(maxAppendSize === undefined ? {} : { maxAppendSize: Number(maxAppendSize) }),
    logger,
  });
  const shutdown = () => void server.close().then(() => process.exit(0));
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  if (!viaIpc) {
    process.stdout.write(`esdb-stand-in ready esdb://127.0.0.1:${server.port}?tls=false (test-only, NOT EventStoreDB)\n`);
    return;
  }
  // The test that started it is gone: so is the stand-in.
  process.on('disconnect', shutdown);
  process.on('message', (command: StandInCommand) => {
    void run(server, command).then(
      (value) => process.send!({ id: command.id, ok: true, value } satisfies StandInReply),
      (error: unknown) => process.send!({ id: command.id, ok: false, error: String(error) } satisfies StandInReply),
    );
  });
  process.send!({ ready: server.port } satisfies StandInReply);
};

void main();
