export { PspClient } from './client.js';
export type { PspClientOptions, PspClientEvents } from './client.js';
export { buildAuthorization, amountToDe4, formatMessage, describeResponseCode, testCards } from './common.js';
export type { AuthFields } from './common.js';
export { runSend, parseSendArgs } from './send.js';
export type { SendOptions } from './send.js';
export { runLoad, parseLoadArgs, formatLoadResult } from './load.js';
export type { LoadOptions, LoadResult } from './load.js';
