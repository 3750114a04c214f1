export { AcquirerLink } from './link.js';
export type { LinkTlsOptions } from './tls.js';
export { spkiPin } from './tls.js';
export type { AcquirerLinkOptions, ReconnectOptions, RequestOptions, UnmatchedHandler, UnmatchedInfo, UnmatchedReason, LinkEvents, LinkStats } from './link.js';
export { compileMatchKey, DEFAULT_MATCH_KEY } from './matcher.js';
export type { MatchKeySpec, MatchKeyFn } from './matcher.js';
export type { DownKind } from './connection.js';
export type { LinkGuard, NetworkRequestHandler, NetworkRequestInfo } from './guard.js';
