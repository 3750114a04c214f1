/**
 * The slice of a pino logger the network layer uses. A pino `Logger` fits as is; the default is silent.
 * Log objects carry codes, ids, counts and MTIs only: never a message body, PAN or track data; an error goes
 * in through `errorSummary` (src/errors.ts).
 */
export interface NetLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = (): void => {};
export const silentLogger: NetLogger = { debug: noop, info: noop, warn: noop, error: noop };
