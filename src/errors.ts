/**
 * The one error registry (docs/architecture.md, "Conventions"). Every runtime error the switch raises carries a stable
 * `SW_ERR_*` code from this table; the message is rendered from the template and the params. Params must
 * never hold card data or raw message values: field paths, offsets, lengths, names and counts only.
 *
 * Each entry also says which HTTP status the code answers with when it reaches an HTTP caller (the admin API
 * reads it from here): 4xx when the caller's request is at fault, 5xx when the switch or one of its
 * dependencies is (503: unavailable or overloaded, try again later; 502/504: the acquirer failed or did not answer).
 *
 * Each area owns one section below; add codes only in your own section. test/errors.test.ts pins the table
 * (codes, template params, statuses), and docs/errors.md lists it (regenerate with `npm run docs:errors`).
 */

/** The HTTP statuses a registry entry may carry. */
export type HttpStatus = 400 | 401 | 403 | 404 | 408 | 409 | 413 | 422 | 429 | 500 | 501 | 502 | 503 | 504;

interface Definition {
  readonly httpStatus: HttpStatus;
  readonly template: string;
}

const DEFINITIONS = {
  // ── codec (src/iso8583) ──────────────────────────────────────────────────────────────────────────────
  SW_ERR_SPEC_INVALID: { httpStatus: 500, template: 'dialect {dialect}: spec is invalid at {path}: {reason}' },
  SW_ERR_SPEC_NOT_FOUND: { httpStatus: 500, template: 'dialect {dialect}: no spec file found' },
  SW_ERR_CODEC_TRUNCATED: { httpStatus: 400, template: 'field {field}: message truncated at byte {offset} (needs {need} more bytes, {have} left)' },
  SW_ERR_CODEC_BAD_LENGTH: { httpStatus: 400, template: 'field {field}: length {length} at byte {offset} is outside {min}..{max} {unit}' },
  SW_ERR_CODEC_BAD_LENGTH_PREFIX: { httpStatus: 400, template: 'field {field}: length prefix at byte {offset} is not a valid {encoding} number' },
  SW_ERR_CODEC_BAD_CHARSET: { httpStatus: 400, template: 'field {field}: invalid character for type {type} at byte {offset}' },
  SW_ERR_CODEC_BAD_MTI: { httpStatus: 400, template: 'field 0: MTI at byte {offset} is not 4 digits' },
  SW_ERR_CODEC_BAD_BITMAP: { httpStatus: 400, template: 'field {field}: bitmap at byte {offset} is invalid ({reason})' },
  SW_ERR_CODEC_UNKNOWN_FIELD: { httpStatus: 400, template: 'field {field}: present in the bitmap but not defined by dialect {dialect}' },
  SW_ERR_CODEC_TRAILING_BYTES: { httpStatus: 400, template: 'message has {count} trailing bytes after the last field at byte {offset}' },
  SW_ERR_CODEC_OVERSIZED: { httpStatus: 413, template: 'message of {length} bytes exceeds the limit of {max}' },
  SW_ERR_CODEC_BAD_TLV: { httpStatus: 400, template: 'field {field}: TLV is malformed at byte {offset} ({reason})' },
  SW_ERR_CODEC_UNKNOWN_TAG: { httpStatus: 400, template: 'field {field}: tag {tag} is not defined by dialect {dialect}' },
  SW_ERR_CODEC_VALUE_INVALID: { httpStatus: 400, template: 'field {field}: value rejected on pack ({reason})' },
  SW_ERR_CODEC_MISSING_MTI: { httpStatus: 400, template: 'message has no MTI' },
  SW_ERR_CODEC_VERSION: { httpStatus: 422, template: 'field {field}: has no ISO 8583:{version} form ({reason})' },
  SW_ERR_JPOS_IMPORT: { httpStatus: 400, template: 'jPOS packager {file}: {reason}' },
  SW_ERR_JPOS_UNKNOWN_PACKAGER: { httpStatus: 422, template: 'jPOS packager {file}: field {field} uses {packager}, which the importer does not know' },
  // ── wire (src/wire) ──────────────────────────────────────────────────────────────────────────────────
  SW_ERR_FRAME_TOO_LARGE: { httpStatus: 413, template: 'frame length {length} exceeds the cap of {max} bytes' },
  SW_ERR_FRAME_BAD_HEADER: { httpStatus: 400, template: 'frame header is not a valid {framer} length' },
  // ── net (src/net) ────────────────────────────────────────────────────────────────────────────────────
  SW_ERR_NET_CONNECTION_LIMIT: { httpStatus: 503, template: 'server {server}: connection limit of {max} reached, refusing a new connection' },
  SW_ERR_NET_INFLIGHT_LIMIT: { httpStatus: 429, template: 'connection {connection}: in-flight limit of {max} reached, reading paused' },
  SW_ERR_NET_SLOW_READER: { httpStatus: 429, template: 'connection {connection}: peer is not reading, {bytes} bytes buffered over the cap of {max}' },
  SW_ERR_NET_IDLE_TIMEOUT: { httpStatus: 408, template: 'connection {connection}: idle for {ms} ms' },
  SW_ERR_NET_UNREADABLE_FRAME: { httpStatus: 400, template: 'connection {connection}: frame dropped, no request to answer ({reason})' },
  SW_ERR_NET_HANDLER_FAILED: { httpStatus: 500, template: 'connection {connection}: handler failed for {mti} ({reason})' },
  SW_ERR_NET_SHUTDOWN: { httpStatus: 503, template: 'server {server}: shut down before the request finished' },
  SW_ERR_NET_TLS_CONFIG: { httpStatus: 500, template: 'TLS config is invalid: {reason}' },
  SW_ERR_NET_LISTEN_FAILED: { httpStatus: 500, template: 'server {server}: cannot listen on {host}:{port} ({reason})' },
  SW_ERR_NET_CLIENT_CERT_MISSING: { httpStatus: 401, template: 'server {server}: connection from {remote} presented no client certificate; refused' },
  SW_ERR_NET_CLIENT_CERT_UNTRUSTED: {
    httpStatus: 403,
    template: 'server {server}: client certificate "{subject}" from {remote} is not trusted ({reason}); refused',
  },
  SW_ERR_NET_CLIENT_CERT_UNMAPPED: {
    httpStatus: 403,
    template: 'server {server}: client certificate "{subject}" (sha256 {fingerprint}) from {remote} maps to no PSP ({reason}); refused',
  },
  SW_ERR_NET_PSP_CONNECTION_LIMIT: { httpStatus: 503, template: 'server {server}: PSP {psp} already has its {max} connections; refusing another' },
  SW_ERR_NET_PSP_INFLIGHT_LIMIT: { httpStatus: 429, template: 'PSP {psp}: {max} requests in flight; further ones are answered unavailable at once' },
  SW_ERR_LINK_NOT_READY: { httpStatus: 503, template: 'link {link}: no connection is ready' },
  SW_ERR_LINK_INFLIGHT_LIMIT: { httpStatus: 503, template: 'link {link}: in-flight cap of {max} reached' },
  SW_ERR_LINK_BACKPRESSURE: { httpStatus: 503, template: 'link {link}: every ready connection has more than {max} bytes unsent' },
  SW_ERR_LINK_DUPLICATE_KEY: { httpStatus: 409, template: 'link {link}: a {mti} with the same match key is already in flight' },
  SW_ERR_LINK_MISSING_KEY_FIELD: { httpStatus: 422, template: 'link {link}: request {mti} lacks field {field} of the match key' },
  SW_ERR_LINK_TIMEOUT: { httpStatus: 504, template: 'link {link}: no answer to {mti} within {timeoutMs} ms' },
  SW_ERR_LINK_CONNECTION_LOST: { httpStatus: 502, template: 'link {link}: connection {connection} went down with the request in flight ({reason})' },
  SW_ERR_LINK_CLOSED: { httpStatus: 503, template: 'link {link}: closed' },
  SW_ERR_LINK_SIGN_ON_FAILED: { httpStatus: 502, template: 'link {link}: sign-on on connection {connection} failed ({reason})' },
  SW_ERR_LINK_HALF_OPEN: { httpStatus: 502, template: 'link {link}: connection {connection} silent for {ms} ms (read timeout {readTimeoutMs} ms)' },
  SW_ERR_LINK_PACK_FAILED: { httpStatus: 500, template: 'link {link}: request {mti} could not be packed ({reason})' },
  SW_ERR_LINK_TLS_HANDSHAKE: { httpStatus: 502, template: 'link {link}: TLS with {host}:{port} failed ({reason})' },
  SW_ERR_LINK_TLS_PIN_MISMATCH: {
    httpStatus: 502,
    template: 'link {link}: no key of the certificate chain of {host}:{port} is pinned (its leaf key is {pin})',
  },
  SW_ERR_LINK_TLS_CONFIG: { httpStatus: 500, template: 'link {link}: TLS config is invalid at {path}: {reason}' },
  SW_ERR_LINK_TLS_FILE: { httpStatus: 500, template: 'acquirer {acquirer}: TLS {what} file {path} cannot be read ({reason})' },
  // ── store (src/store) ────────────────────────────────────────────────────────────────────────────────
  SW_ERR_DB_UNAVAILABLE: { httpStatus: 503, template: 'database {target} is unavailable: {reason}' },
  SW_ERR_DB_EMBEDDED_FAILED: { httpStatus: 500, template: 'embedded PostgreSQL could not {step}: {reason} ({fix})' },
  SW_ERR_DB_LOGIN_REFUSED: { httpStatus: 503, template: 'database {target} refused the login: {reason}' },
  SW_ERR_MIGRATION_CHECKSUM: { httpStatus: 500, template: 'migration {module}/{file} changed after it was applied (forward-only: add a new file)' },
  SW_ERR_MIGRATION_FAILED: { httpStatus: 500, template: 'migration {module}/{file} failed: {reason}' },
  SW_ERR_GROUP_COMMIT_CLOSED: { httpStatus: 503, template: 'group committer {name} is closed' },
  SW_ERR_GROUP_COMMIT_OVERLOADED: { httpStatus: 503, template: 'group committer {name} queue is full ({max} requests waiting)' },
  SW_ERR_GROUP_COMMIT_UNKNOWN: { httpStatus: 504, template: 'group committer {name}: commit outcome unknown ({reason}); replay the request' },
  SW_ERR_GROUP_COMMIT_FLUSH: { httpStatus: 500, template: 'group committer {name}: flush returned {got} results for {want} requests' },
  SW_ERR_REDIS_UNAVAILABLE: { httpStatus: 503, template: 'Redis {target} is unreachable: {reason}' },
  // ── ledger (src/ledger) ──────────────────────────────────────────────────────────────────────────────
  SW_ERR_LEDGER_BAD_REQUEST: { httpStatus: 400, template: 'ledger request for plan {planId} is invalid: {reason}' },
  SW_ERR_LEDGER_PLAN_NOT_FOUND: { httpStatus: 404, template: 'plan {planId} does not exist' },
  SW_ERR_LEDGER_PLAN_STATE: { httpStatus: 409, template: 'plan {planId} is {state}: cannot {op}' },
  SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH: { httpStatus: 409, template: 'plan {planId}: {op} replayed with a different payload' },
  SW_ERR_LEDGER_BATCH_ORDER: { httpStatus: 409, template: 'plan {planId}: batch {batchId} is not the next batch (expected {expected})' },
  SW_ERR_LEDGER_ACCOUNT_NOT_FOUND: { httpStatus: 404, template: 'ledger account {account} does not exist' },
  SW_ERR_LEDGER_ACCOUNT_CONFLICT: { httpStatus: 409, template: 'ledger account {account} already exists with different attributes' },
  SW_ERR_LEDGER_CURRENCY_MISMATCH: { httpStatus: 422, template: 'plan {planId} posting {index}: currency {currency} does not match account {account}' },
  SW_ERR_LEDGER_INSUFFICIENT_FUNDS: { httpStatus: 422, template: 'plan {planId}: account {account} may not go negative' },
  SW_ERR_LEDGER_UNKNOWN_CURRENCY: { httpStatus: 400, template: 'currency {currency} is not a known ISO 4217 numeric code' },
  SW_ERR_SETTLEMENT_FILE_INVALID: { httpStatus: 400, template: 'settlement file {file} line {line}: {reason}' },
  SW_ERR_LEDGER_FEES_INVALID: { httpStatus: 500, template: 'fee schedule {file} is invalid at {path}: {reason}' },
  SW_ERR_LEDGER_PAN_FORBIDDEN: { httpStatus: 400, template: 'plan {planId}: {field} looks like a full PAN; store a keyed hash and a masked PAN only' },
  SW_ERR_LEDGER_CHECK_FAILED: { httpStatus: 500, template: 'ledger check found {count} violations: {first}' },
  // ── routing and risk (src/routing, src/risk, rules/) ─────────────────────────────────────────────────
  SW_ERR_RULES_INVALID: { httpStatus: 422, template: 'rules {file}: {rule} is invalid at {path}: {reason}' },
  SW_ERR_RULES_READ: { httpStatus: 500, template: 'rules {file}: cannot be read ({reason})' },
  SW_ERR_RULES_REFERENCE: { httpStatus: 422, template: 'rules {file}: {rule} refers to unknown {kind} {ref} at {path}' },
  SW_ERR_RULES_VERSION_NOT_FOUND: { httpStatus: 404, template: 'rules version {version} does not exist' },
  SW_ERR_RULES_NO_ACTIVE_VERSION: { httpStatus: 409, template: 'no rules version is active' },
  SW_ERR_ROUTING_BAD_CONTEXT: { httpStatus: 400, template: 'authorization context is invalid at {path}: {reason}' },
  SW_ERR_RISK_SCORER_FAILED: { httpStatus: 500, template: 'risk scoring failed ({reason}); fallback level {level} applied' },
  SW_ERR_RISK_VELOCITY_LATE: { httpStatus: 503, template: "shared velocity counts did not answer within {ms} ms; this instance's own counts used" },
  SW_ERR_DETECTOR_UNAVAILABLE: {
    httpStatus: 503,
    template: "failure detector store is unreachable ({reason}); routes are judged from this instance's own counts until it is back",
  },
  SW_ERR_REDIS_CONFIG: { httpStatus: 500, template: 'redis configuration is invalid: {reason}' },
  SW_ERR_CLI_USAGE: { httpStatus: 400, template: 'usage: {usage}' },
  // ── switch flows (src/switch) ────────────────────────────────────────────────────────────────────────
  SW_ERR_NO_LINK: { httpStatus: 503, template: 'no link to acquirer {acquirer}' },
  SW_ERR_BREAKER_OPEN: { httpStatus: 503, template: 'acquirer {acquirer}: circuit breaker open' },
  SW_ERR_PAN_HASH_KEY: { httpStatus: 500, template: 'PAN hash key: {reason} ({fix})' },
  SW_ERR_PAN_HASH_KEY_MISSING: {
    httpStatus: 500,
    template:
      'PAN hash key {keyId} is not in the key set, yet {rows} stored rows were hashed with it ({tables}): a duplicate of one of them is answered as another card (duplicate, 94), and a blocklist entry made from one matches no card (put the key back, or let the rows age out: npm run pan-keys -- report)',
  },
  // ── security (src/security) ──────────────────────────────────────────────────────────────────────────
  SW_ERR_SEC_MASTER_KEY: { httpStatus: 500, template: 'master key ({source}) is unusable: {reason}' },
  SW_ERR_SEC_KEY_FILE: { httpStatus: 500, template: 'key file {file} {reason}' },
  SW_ERR_SEC_KEY_TAMPERED: {
    httpStatus: 500,
    template: 'key {name} in {store} does not open under the master key (the entry was changed, or it was sealed under another master key)',
  },
  SW_ERR_SEC_KEY_NOT_FOUND: { httpStatus: 404, template: 'key {name} is not in the key store' },
  SW_ERR_SEC_KEY_NAME: { httpStatus: 400, template: 'key name is invalid: {reason}' },
  SW_ERR_SEC_KEY_LENGTH: { httpStatus: 422, template: 'key {name} is {length} bytes; a {type} key is {expected} bytes' },
  SW_ERR_SEC_KEY_PARITY: { httpStatus: 422, template: 'key {name} does not have odd parity in every byte (mistyped, or damaged on the way)' },
  SW_ERR_SEC_WEAK_KEY: { httpStatus: 422, template: 'key {name} has two equal 8-byte parts, which makes it single DES' },
  SW_ERR_SEC_KEY_USAGE: { httpStatus: 422, template: 'key {name} is a {type} key and may not {operation}' },
  SW_ERR_SEC_KCV_MISMATCH: { httpStatus: 422, template: 'key {name}: its check value is not the expected {expected}; nothing was stored' },
  SW_ERR_SEC_PIN_BLOCK: { httpStatus: 422, template: 'PIN block is invalid: {reason}' },
  SW_ERR_SEC_MAC_INVALID: { httpStatus: 422, template: 'MAC does not verify under key {name}' },
  SW_ERR_SEC_BAD_INPUT: { httpStatus: 400, template: 'cannot {operation}: {reason}' },
  SW_ERR_SEC_SELF_TEST: { httpStatus: 500, template: 'soft HSM self-test failed: {reason} (this Node or OpenSSL build lacks working TDES)' },
  SW_ERR_SEC_CLOSED: { httpStatus: 503, template: 'the key store is closed' },
  SW_ERR_SEC_NO_KEY_STORE: {
    httpStatus: 500,
    template: 'acquirer {acquirer} has {what} configured and the switch has no key store (give it a key file: docs/security.md, "Key store")',
  },
  SW_ERR_SEC_KEY_EXCHANGE: { httpStatus: 502, template: 'key exchange with acquirer {acquirer} failed: {reason}' },
  // ── start-up (src/main.ts: one line naming the cause and the fix, src/switch/start-failure.ts) ─────────
  SW_ERR_START_PORT_IN_USE: { httpStatus: 500, template: '{what} port {port} is in use (set {env} or {key})' },
  SW_ERR_START_LISTEN: { httpStatus: 500, template: '{what} cannot listen on {host}:{port}: {reason} (set {env} or {key})' },
  SW_ERR_START_DATABASE: {
    httpStatus: 503,
    template:
      'database {target} is unreachable: {reason} (start PostgreSQL there, correct DATABASE_URL or database.url, or unset both to use the embedded PostgreSQL)',
  },
  SW_ERR_START_DATABASE_LOGIN: {
    httpStatus: 503,
    template: 'database {target} refused the login: {reason} (correct the user, password or database name in DATABASE_URL or database.url)',
  },
  SW_ERR_START_REDIS: {
    httpStatus: 503,
    template:
      'Redis {target} is unreachable: {reason} (start Redis there, correct REDIS_URL or redis.url, or unset both to keep the failure detector and velocity counts in memory)',
  },
  SW_ERR_START_CONFIG: { httpStatus: 500, template: 'switch config is invalid at {path}: {reason} ({fix})' },
  SW_ERR_START_RULES: {
    httpStatus: 500,
    template:
      'rule files in {dir} are invalid: {reason} (correct them, `npm run rules -- validate --dir {dir}` lists every problem, or set RULES_DIR or rulesDir to other files)',
  },
  SW_ERR_START_FAILED: { httpStatus: 500, template: '{reason} (the log lines above have the details; LOG_LEVEL=debug shows more)' },
  // ── admin and config (src/admin, config) ────────────────────────────────────────────────────────────
  SW_ERR_CONFIG_INVALID: { httpStatus: 500, template: 'config is invalid at {path}: {reason}' },
  SW_ERR_ADMIN_UNAUTHORIZED: { httpStatus: 401, template: 'admin API: {reason}' },
  SW_ERR_ADMIN_FORBIDDEN: { httpStatus: 403, template: 'admin API: role {role} may not {action}' },
  SW_ERR_ADMIN_BAD_REQUEST: { httpStatus: 400, template: 'admin API: request is invalid at {path}: {reason}' },
  SW_ERR_ADMIN_NOT_FOUND: { httpStatus: 404, template: 'admin API: {what} {id} not found' },
  SW_ERR_CONTROL_INVALID: { httpStatus: 400, template: 'manual control of {target}: {reason}' },
  SW_ERR_ADMIN_NOT_CONFIGURED: { httpStatus: 501, template: 'admin API: {area} is not available on this instance' },
  SW_ERR_ADMIN_CONFLICT: { httpStatus: 409, template: 'admin API: {what} {id} cannot be changed: {reason}' },
  SW_ERR_ADMIN_RATE_LIMITED: { httpStatus: 429, template: 'admin API: more than {limit} {what} requests a minute for this token; retry in {retryAfterS} s' },
  SW_ERR_ADMIN_SAME_PERSON: { httpStatus: 403, template: 'admin API: {actor} proposed this change: another person must approve it' },
  SW_ERR_ADMIN_INTERNAL: { httpStatus: 500, template: 'admin API: internal error ({reason})' },
  SW_ERR_ADMIN_TLS: { httpStatus: 500, template: 'admin server TLS: {path} ({key}) {reason}' },
  SW_ERR_ADMIN_TOKEN_FILE: {
    httpStatus: 500,
    template: 'quick-start admin token file {path} {reason} (make its folder writable, or set admin.tokens or ADMIN_TOKENS)',
  },
} as const satisfies Record<`SW_ERR_${string}`, Definition>;

export type ErrorCode = keyof typeof DEFINITIONS;
export type ErrorParams = Readonly<Record<string, string | number | bigint | boolean | undefined>>;

/** One registry entry. */
export interface ErrorEntry<C extends ErrorCode = ErrorCode> {
  readonly code: C;
  readonly template: (typeof DEFINITIONS)[C]['template'];
  readonly httpStatus: HttpStatus;
}

/** Every code with its template and HTTP status, in registry order. */
export const ERROR_REGISTRY: { readonly [C in ErrorCode]: ErrorEntry<C> } = Object.freeze(
  Object.fromEntries(Object.entries(DEFINITIONS).map(([code, d]) => [code, Object.freeze({ code, template: d.template, httpStatus: d.httpStatus })])),
) as { readonly [C in ErrorCode]: ErrorEntry<C> };

/** code → message template (derived from ERROR_REGISTRY). */
export const ERROR_TEMPLATES: { readonly [C in ErrorCode]: (typeof DEFINITIONS)[C]['template'] } = Object.freeze(
  Object.fromEntries(Object.entries(DEFINITIONS).map(([code, d]) => [code, d.template])),
) as { readonly [C in ErrorCode]: (typeof DEFINITIONS)[C]['template'] };

export function renderError(code: ErrorCode, params: ErrorParams = {}): string {
  return ERROR_REGISTRY[code].template.replace(/\{(\w+)\}/g, (_m, key: string) => {
    const v = params[key];
    return v === undefined ? `{${key}}` : String(v);
  });
}

/** The HTTP status of a code (admin API answers). */
export function httpStatusOf(code: ErrorCode): HttpStatus {
  return ERROR_REGISTRY[code].httpStatus;
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
  /** The HTTP status of this error's code, from the registry. */
  get httpStatus(): HttpStatus {
    return ERROR_REGISTRY[this.code].httpStatus;
  }
  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function isSwitchError(e: unknown, code?: ErrorCode): e is SwitchError {
  return e instanceof SwitchError && (code === undefined || e.code === code);
}

// ── safe error summary for logs ──────────────────────────────────────────────────────────────────────

/** What a log line holds of an error (docs/architecture.md, "Card data never leaks"). */
export interface ErrorSummary {
  /** The SW_ERR_* code, or another error's own string code (ECONNRESET, a PostgreSQL SQLSTATE, FST_ERR_*). */
  code?: string;
  message: string;
}

/**
 * Runs of 16 or more hex digits (keys, PIN blocks, MACs, hashes) and runs of 13 or more decimal digits (a PAN;
 * longer runs too, so a PAN inside a longer number cannot slip through).
 */
const SECRET_LIKE = /[0-9A-Fa-f]{16,}|[0-9]{13,}/g;

/** `s` with every PAN-like digit run replaced by "[digits]" and every long hex run by "[hex]". */
export function scrubSecrets(s: string): string {
  return s.replace(SECRET_LIKE, (m) => (/^[0-9]+$/.test(m) ? '[digits]' : '[hex]'));
}

/**
 * The one safe summary of an error for a log line. A SwitchError keeps its code and rendered message (its
 * params are safe by construction). Anything else (a driver's, Node's or a library's error, a thrown
 * string) may quote the data it failed on: its message is scrubbed of PAN-like digit runs and long hex,
 * and its code kept only when it is a short identifier.
 */
export function errorSummary(e: unknown): ErrorSummary {
  if (e instanceof SwitchError) return { code: e.code, message: e.message };
  if (e instanceof Error) {
    const c = (e as { code?: unknown }).code;
    const code = typeof c === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(c) ? scrubSecrets(c) : undefined;
    const message = scrubSecrets(e.message || e.name);
    return code === undefined ? { message } : { code, message };
  }
  return { message: scrubSecrets(String(e)) };
}
