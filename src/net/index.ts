export { PspServer, startPspServer, DEFAULT_PSP_ANSWERS } from './psp-server.js';
export type {
  PspServerOptions,
  PspServerStats,
  PspServerEvents,
  PspHandler,
  PspRequestContext,
  PspTlsOptions,
  PspLimitKind,
  PspAnswers,
} from './psp-server.js';
export * from './link/index.js';
export { BatchWriter } from './batch-writer.js';
export { peekMti, transmissionDateTime, StanGenerator } from './mti.js';
export { silentLogger } from './logger.js';
export type { NetLogger } from './logger.js';
