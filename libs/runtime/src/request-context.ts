import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The id of the HTTP request a piece of work serves, for as long as that work runs (its awaits and callbacks
 * included): what nestjs-pino keeps per request, kept here without a framework. Every log line written meanwhile
 * carries it (createLogger's mixin), and the events a command appends carry it as their correlationId, so nothing
 * passes it along by hand. Work outside a request (sagas, projections, start-up) has none.
 */
const storage = new AsyncLocalStorage<string>();

/** Runs `work` as part of the request `requestId`: everything it starts, synchronously or not, sees that id. */
export const inRequest = <T>(requestId: string, work: () => T): T => storage.run(requestId, work);

/** The id of the request being served, or undefined outside one. */
export const currentRequestId = (): string | undefined => storage.getStore();

/**
 * The correlation of the events a command appends while serving a request: its id, so that an auditor goes from an
 * event to the request (and its log lines) that caused it. Empty outside a request (a saga's own decisions).
 */
export const requestCorrelation = (): { readonly correlationId?: string } => {
  const requestId = storage.getStore();
  return requestId === undefined ? {} : { correlationId: requestId };
};
