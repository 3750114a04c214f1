/**
 * The slice of a pino logger the network layer uses. A pino `Logger` fits as is; the default is silent.
 * Log objects carry codes, ids, counts and MTIs only: never a message body, PAN or track data.
 */
export interface NetLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = (): void => {};
export const silentLogger: NetLogger = { debug: noop, info: noop, warn: noop, error: noop };

/** A safe summary of an error for a log line: its SW_ERR_* code (when it has one) and its message. */
export function errInfo(e: unknown): { code?: string; err: string } {
  if (e && typeof e === 'object' && 'code' in e && typeof (e as { code: unknown }).code === 'string') {
    return { code: (e as { code: string }).code, err: e instanceof Error ? e.message : String(e) };
  }
  return { err: e instanceof Error ? e.message : String(e) };
}
