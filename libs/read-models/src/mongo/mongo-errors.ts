/** MongoDB server error codes the adapters act on. */
export const NAMESPACE_NOT_FOUND = 26;
export const MAX_TIME_MS_EXPIRED = 50;

/** The server's error code of a MongoServerError (checked by name, so the driver need not be loaded to ask). */
export function serverErrorCode(error: unknown): number | undefined {
  if (!(error instanceof Error) || error.name !== 'MongoServerError') return undefined;
  const { code } = error as Error & { code?: unknown };
  return typeof code === 'number' ? code : undefined;
}
