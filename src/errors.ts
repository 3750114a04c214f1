/**
 * The one error registry (docs/architecture.md, "Conventions"). Every runtime error the switch raises carries a stable
 * `SW_ERR_*` code from this table; the message is rendered from the template and the params. Params must
 * never hold card data or raw message values: field paths, offsets, lengths, names and counts only.
 *
 * Each area owns one section below; add codes only in your own section. test/errors.test.ts pins the table,
 * and docs/errors.md lists it (regenerate with `npm run docs:errors`).
 */
export const ERROR_TEMPLATES = {
  // ── codec (src/iso8583) ──────────────────────────────────────────────────────────────────────────────
  SW_ERR_SPEC_INVALID: 'dialect {dialect}: spec is invalid at {path}: {reason}',
  SW_ERR_SPEC_NOT_FOUND: 'dialect {dialect}: no spec file found',
  SW_ERR_CODEC_TRUNCATED: 'field {field}: message truncated at byte {offset} (needs {need} more bytes, {have} left)',
  SW_ERR_CODEC_BAD_LENGTH: 'field {field}: length {length} at byte {offset} is outside {min}..{max} {unit}',
  SW_ERR_CODEC_BAD_LENGTH_PREFIX: 'field {field}: length prefix at byte {offset} is not a valid {encoding} number',
  SW_ERR_CODEC_BAD_CHARSET: 'field {field}: invalid character for type {type} at byte {offset}',
  SW_ERR_CODEC_BAD_MTI: 'field 0: MTI at byte {offset} is not 4 digits',
  SW_ERR_CODEC_BAD_BITMAP: 'field {field}: bitmap at byte {offset} is invalid ({reason})',
  SW_ERR_CODEC_UNKNOWN_FIELD: 'field {field}: present in the bitmap but not defined by dialect {dialect}',
  SW_ERR_CODEC_TRAILING_BYTES: 'message has {count} trailing bytes after the last field at byte {offset}',
  SW_ERR_CODEC_OVERSIZED: 'message of {length} bytes exceeds the limit of {max}',
  SW_ERR_CODEC_BAD_TLV: 'field {field}: TLV is malformed at byte {offset} ({reason})',
  SW_ERR_CODEC_UNKNOWN_TAG: 'field {field}: tag {tag} is not defined by dialect {dialect}',
  SW_ERR_CODEC_VALUE_INVALID: 'field {field}: value rejected on pack ({reason})',
  SW_ERR_CODEC_MISSING_MTI: 'message has no MTI',
  SW_ERR_CODEC_VERSION: 'field {field}: has no ISO 8583:{version} form ({reason})',
  SW_ERR_JPOS_IMPORT: 'jPOS packager {file}: {reason}',
  SW_ERR_JPOS_UNKNOWN_PACKAGER: 'jPOS packager {file}: field {field} uses {packager}, which the importer does not know',
  // ── wire (src/wire) ──────────────────────────────────────────────────────────────────────────────────
  SW_ERR_FRAME_TOO_LARGE: 'frame length {length} exceeds the cap of {max} bytes',
  SW_ERR_FRAME_BAD_HEADER: 'frame header is not a valid {framer} length',
  // ── net (src/net) ────────────────────────────────────────────────────────────────────────────────────
  SW_ERR_NET_CONNECTION_LIMIT: 'server {server}: connection limit of {max} reached, refusing a new connection',
  SW_ERR_NET_INFLIGHT_LIMIT: 'connection {connection}: in-flight limit of {max} reached, reading paused',
  SW_ERR_NET_SLOW_READER: 'connection {connection}: peer is not reading, {bytes} bytes buffered over the cap of {max}',
  SW_ERR_NET_IDLE_TIMEOUT: 'connection {connection}: idle for {ms} ms',
  SW_ERR_NET_UNREADABLE_FRAME: 'connection {connection}: frame without a readable MTI ({reason})',
  SW_ERR_NET_HANDLER_FAILED: 'connection {connection}: handler failed for {mti} ({reason})',
  SW_ERR_NET_SHUTDOWN: 'server {server}: shut down before the request finished',
  SW_ERR_NET_TLS_CONFIG: 'TLS config is invalid: {reason}',
  SW_ERR_NET_LISTEN_FAILED: 'server {server}: cannot listen on {host}:{port} ({reason})',
  SW_ERR_LINK_NOT_READY: 'link {link}: no connection is ready',
  SW_ERR_LINK_INFLIGHT_LIMIT: 'link {link}: in-flight cap of {max} reached',
  SW_ERR_LINK_BACKPRESSURE: 'link {link}: every ready connection has more than {max} bytes unsent',
  SW_ERR_LINK_DUPLICATE_KEY: 'link {link}: a {mti} with the same match key is already in flight',
  SW_ERR_LINK_MISSING_KEY_FIELD: 'link {link}: request {mti} lacks field {field} of the match key',
  SW_ERR_LINK_TIMEOUT: 'link {link}: no answer to {mti} within {timeoutMs} ms',
  SW_ERR_LINK_CONNECTION_LOST: 'link {link}: connection {connection} went down with the request in flight ({reason})',
  SW_ERR_LINK_CLOSED: 'link {link}: closed',
  SW_ERR_LINK_SIGN_ON_FAILED: 'link {link}: sign-on on connection {connection} failed ({reason})',
  SW_ERR_LINK_HALF_OPEN: 'link {link}: connection {connection} silent for {ms} ms (read timeout {readTimeoutMs} ms)',
  SW_ERR_LINK_PACK_FAILED: 'link {link}: request {mti} could not be packed ({reason})',
  // ── store (src/store) ────────────────────────────────────────────────────────────────────────────────
  SW_ERR_DB_UNAVAILABLE: 'database {target} is unavailable: {reason}',
  SW_ERR_DB_EMBEDDED_FAILED: 'embedded PostgreSQL could not {step}: {reason} ({fix})',
  SW_ERR_DB_LOGIN_REFUSED: 'database {target} refused the login: {reason}',
  SW_ERR_MIGRATION_CHECKSUM: 'migration {module}/{file} changed after it was applied (forward-only: add a new file)',
  SW_ERR_MIGRATION_FAILED: 'migration {module}/{file} failed: {reason}',
  SW_ERR_GROUP_COMMIT_CLOSED: 'group committer {name} is closed',
  SW_ERR_GROUP_COMMIT_OVERLOADED: 'group committer {name} queue is full ({max} requests waiting)',
  SW_ERR_GROUP_COMMIT_UNKNOWN: 'group committer {name}: commit outcome unknown ({reason}); replay the request',
  SW_ERR_GROUP_COMMIT_FLUSH: 'group committer {name}: flush returned {got} results for {want} requests',
  SW_ERR_REDIS_UNAVAILABLE: 'Redis {target} is unreachable: {reason}',
  // ── ledger (src/ledger) ──────────────────────────────────────────────────────────────────────────────
  SW_ERR_LEDGER_BAD_REQUEST: 'ledger request for plan {planId} is invalid: {reason}',
  SW_ERR_LEDGER_PLAN_NOT_FOUND: 'plan {planId} does not exist',
  SW_ERR_LEDGER_PLAN_STATE: 'plan {planId} is {state}: cannot {op}',
  SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH: 'plan {planId}: {op} replayed with a different payload',
  SW_ERR_LEDGER_BATCH_ORDER: 'plan {planId}: batch {batchId} is not the next batch (expected {expected})',
  SW_ERR_LEDGER_ACCOUNT_NOT_FOUND: 'ledger account {account} does not exist',
  SW_ERR_LEDGER_ACCOUNT_CONFLICT: 'ledger account {account} already exists with different attributes',
  SW_ERR_LEDGER_CURRENCY_MISMATCH: 'plan {planId} posting {index}: currency {currency} does not match account {account}',
  SW_ERR_LEDGER_INSUFFICIENT_FUNDS: 'plan {planId}: account {account} may not go negative',
  SW_ERR_LEDGER_UNKNOWN_CURRENCY: 'currency {currency} is not a known ISO 4217 numeric code',
  SW_ERR_LEDGER_FEES_INVALID: 'fee schedule {file} is invalid at {path}: {reason}',
  SW_ERR_LEDGER_PAN_FORBIDDEN: 'plan {planId}: {field} looks like a full PAN; store a keyed hash and a masked PAN only',
  SW_ERR_LEDGER_CHECK_FAILED: 'ledger check found {count} violations: {first}',
  // ── routing and risk (src/routing, src/risk, rules/) ─────────────────────────────────────────────────
  SW_ERR_RULES_INVALID: 'rules {file}: {rule} is invalid at {path}: {reason}',
  SW_ERR_RULES_READ: 'rules {file}: cannot be read ({reason})',
  SW_ERR_RULES_REFERENCE: 'rules {file}: {rule} refers to unknown {kind} {ref} at {path}',
  SW_ERR_RULES_VERSION_NOT_FOUND: 'rules version {version} does not exist',
  SW_ERR_RULES_NO_ACTIVE_VERSION: 'no rules version is active',
  SW_ERR_ROUTING_BAD_CONTEXT: 'authorization context is invalid at {path}: {reason}',
  SW_ERR_RISK_SCORER_FAILED: 'risk scoring failed ({reason}); fallback level {level} applied',
  SW_ERR_DETECTOR_UNAVAILABLE: 'failure detector store is unreachable ({reason}); routes are judged from this instance\'s own counts until it is back',
  SW_ERR_REDIS_CONFIG: 'redis configuration is invalid: {reason}',
  SW_ERR_CLI_USAGE: 'usage: {usage}',
  // ── switch flows (src/switch) ────────────────────────────────────────────────────────────────────────
  SW_ERR_TXN_NOT_FOUND: 'transaction {id} not found',
  SW_ERR_TXN_STATE: 'transaction {id} is {state}: cannot {action}',
  SW_ERR_SWITCH_CONFIG: 'switch config is invalid at {path}: {reason}',
  SW_ERR_NO_LINK: 'no link to acquirer {acquirer}',
  SW_ERR_SWITCH_STOPPED: 'the switch is stopping: {action} refused',
  SW_ERR_BREAKER_OPEN: 'acquirer {acquirer}: circuit breaker open',
  SW_ERR_PAN_HASH_KEY: 'PAN hash key: {reason} ({fix})',
  // ── start-up (src/main.ts: one line naming the cause and the fix, src/switch/start-failure.ts) ─────────
  SW_ERR_START_PORT_IN_USE: '{what} port {port} is in use (set {env} or {key})',
  SW_ERR_START_LISTEN: '{what} cannot listen on {host}:{port}: {reason} (set {env} or {key})',
  SW_ERR_START_DATABASE: 'database {target} is unreachable: {reason} (start PostgreSQL there, correct DATABASE_URL or database.url, or unset both to use the embedded PostgreSQL)',
  SW_ERR_START_DATABASE_LOGIN: 'database {target} refused the login: {reason} (correct the user, password or database name in DATABASE_URL or database.url)',
  SW_ERR_START_REDIS: 'Redis {target} is unreachable: {reason} (start Redis there, correct REDIS_URL or redis.url, or unset both to keep the failure detector and velocity counts in memory)',
  SW_ERR_START_CONFIG: 'switch config is invalid at {path}: {reason} ({fix})',
  SW_ERR_START_RULES: 'rule files in {dir} are invalid: {reason} (correct them, `npm run rules -- validate --dir {dir}` lists every problem, or set RULES_DIR or rulesDir to other files)',
  SW_ERR_START_FAILED: '{reason} (the log lines above have the details; LOG_LEVEL=debug shows more)',
  // ── admin and config (src/admin, config) ────────────────────────────────────────────────────────────
  SW_ERR_CONFIG_INVALID: 'config is invalid at {path}: {reason}',
  SW_ERR_ADMIN_UNAUTHORIZED: 'admin API: {reason}',
  SW_ERR_ADMIN_FORBIDDEN: 'admin API: role {role} may not {action}',
  SW_ERR_ADMIN_BAD_REQUEST: 'admin API: request is invalid at {path}: {reason}',
  SW_ERR_ADMIN_NOT_FOUND: 'admin API: {what} {id} not found',
  SW_ERR_ADMIN_NOT_CONFIGURED: 'admin API: {area} is not available on this instance',
  SW_ERR_ADMIN_CONFLICT: 'admin API: {what} {id} cannot be changed: {reason}',
  SW_ERR_ADMIN_RULES_YAML: 'admin API: {file} is not valid YAML at line {line} ({reason})',
  SW_ERR_ADMIN_INTERNAL: 'admin API: internal error ({reason})',
} as const satisfies Record<string, string>;

export type ErrorCode = keyof typeof ERROR_TEMPLATES;
export type ErrorParams = Readonly<Record<string, string | number | bigint | boolean | undefined>>;

export function renderError(code: ErrorCode, params: ErrorParams = {}): string {
  return ERROR_TEMPLATES[code].replace(/\{(\w+)\}/g, (_m, key: string) => {
    const v = params[key];
    return v === undefined ? `{${key}}` : String(v);
  });
}

/** Base class of every error the switch raises on purpose. */
export class SwitchError extends Error {
  readonly code: ErrorCode;
  readonly params: ErrorParams;
  constructor(code: ErrorCode, params: ErrorParams = {}, options?: { cause?: unknown }) {
    super(renderError(code, params), options);
    this.code = code;
    this.params = params;
    this.name = new.target.name;
  }
  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function isSwitchError(e: unknown, code?: ErrorCode): e is SwitchError {
  return e instanceof SwitchError && (code === undefined || e.code === code);
}
