import t from 'tap';
import { readFileSync } from 'node:fs';
import {
  ERROR_REGISTRY,
  ERROR_TEMPLATES,
  SwitchError,
  errorSummary,
  httpStatusOf,
  isSwitchError,
  renderError,
  scrubSecrets,
  type ErrorCode,
} from '../src/errors.js';
import { startFailure } from '../src/switch/start-failure.js';
import { renderErrorDoc } from '../scripts/errors-doc.js';

/**
 * The registry, pinned: every code with its HTTP status and the exact set of `{param}` names its template uses.
 * Peers, operators and docs match on codes; callers pass params by name. Adding, removing or renaming a code,
 * changing its status or the params of its template fails here first: update this table with the change.
 */
const PINNED: readonly (readonly [ErrorCode, number, readonly string[]])[] = [
  ['SW_ERR_SPEC_INVALID', 500, ['dialect', 'path', 'reason']],
  ['SW_ERR_SPEC_NOT_FOUND', 500, ['dialect']],
  ['SW_ERR_CODEC_TRUNCATED', 400, ['field', 'have', 'need', 'offset']],
  ['SW_ERR_CODEC_BAD_LENGTH', 400, ['field', 'length', 'max', 'min', 'offset', 'unit']],
  ['SW_ERR_CODEC_BAD_LENGTH_PREFIX', 400, ['encoding', 'field', 'offset']],
  ['SW_ERR_CODEC_BAD_CHARSET', 400, ['field', 'offset', 'type']],
  ['SW_ERR_CODEC_BAD_MTI', 400, ['offset']],
  ['SW_ERR_CODEC_BAD_BITMAP', 400, ['field', 'offset', 'reason']],
  ['SW_ERR_CODEC_UNKNOWN_FIELD', 400, ['dialect', 'field']],
  ['SW_ERR_CODEC_TRAILING_BYTES', 400, ['count', 'offset']],
  ['SW_ERR_CODEC_OVERSIZED', 413, ['length', 'max']],
  ['SW_ERR_CODEC_BAD_TLV', 400, ['field', 'offset', 'reason']],
  ['SW_ERR_CODEC_UNKNOWN_TAG', 400, ['dialect', 'field', 'tag']],
  ['SW_ERR_CODEC_VALUE_INVALID', 400, ['field', 'reason']],
  ['SW_ERR_CODEC_MISSING_MTI', 400, []],
  ['SW_ERR_CODEC_VERSION', 422, ['field', 'reason', 'version']],
  ['SW_ERR_JPOS_IMPORT', 400, ['file', 'reason']],
  ['SW_ERR_JPOS_UNKNOWN_PACKAGER', 422, ['field', 'file', 'packager']],
  ['SW_ERR_FRAME_TOO_LARGE', 413, ['length', 'max']],
  ['SW_ERR_FRAME_BAD_HEADER', 400, ['framer']],
  ['SW_ERR_NET_CONNECTION_LIMIT', 503, ['max', 'server']],
  ['SW_ERR_NET_INFLIGHT_LIMIT', 429, ['connection', 'max']],
  ['SW_ERR_NET_SLOW_READER', 429, ['bytes', 'connection', 'max']],
  ['SW_ERR_NET_IDLE_TIMEOUT', 408, ['connection', 'ms']],
  ['SW_ERR_NET_UNREADABLE_FRAME', 400, ['connection', 'reason']],
  ['SW_ERR_NET_HANDLER_FAILED', 500, ['connection', 'mti', 'reason']],
  ['SW_ERR_NET_SHUTDOWN', 503, ['server']],
  ['SW_ERR_NET_TLS_CONFIG', 500, ['reason']],
  ['SW_ERR_NET_LISTEN_FAILED', 500, ['host', 'port', 'reason', 'server']],
  ['SW_ERR_NET_CLIENT_CERT_MISSING', 401, ['remote', 'server']],
  ['SW_ERR_NET_CLIENT_CERT_UNTRUSTED', 403, ['reason', 'remote', 'server', 'subject']],
  ['SW_ERR_NET_CLIENT_CERT_UNMAPPED', 403, ['fingerprint', 'reason', 'remote', 'server', 'subject']],
  ['SW_ERR_NET_PSP_CONNECTION_LIMIT', 503, ['max', 'psp', 'server']],
  ['SW_ERR_NET_PSP_INFLIGHT_LIMIT', 429, ['max', 'psp']],
  ['SW_ERR_LINK_NOT_READY', 503, ['link']],
  ['SW_ERR_LINK_INFLIGHT_LIMIT', 503, ['link', 'max']],
  ['SW_ERR_LINK_BACKPRESSURE', 503, ['link', 'max']],
  ['SW_ERR_LINK_DUPLICATE_KEY', 409, ['link', 'mti']],
  ['SW_ERR_LINK_MISSING_KEY_FIELD', 422, ['field', 'link', 'mti']],
  ['SW_ERR_LINK_TIMEOUT', 504, ['link', 'mti', 'timeoutMs']],
  ['SW_ERR_LINK_CONNECTION_LOST', 502, ['connection', 'link', 'reason']],
  ['SW_ERR_LINK_CLOSED', 503, ['link']],
  ['SW_ERR_LINK_SIGN_ON_FAILED', 502, ['connection', 'link', 'reason']],
  ['SW_ERR_LINK_HALF_OPEN', 502, ['connection', 'link', 'ms', 'readTimeoutMs']],
  ['SW_ERR_LINK_PACK_FAILED', 500, ['link', 'mti', 'reason']],
  ['SW_ERR_LINK_TLS_HANDSHAKE', 502, ['host', 'link', 'port', 'reason']],
  ['SW_ERR_LINK_TLS_PIN_MISMATCH', 502, ['host', 'link', 'pin', 'port']],
  ['SW_ERR_LINK_TLS_CONFIG', 500, ['link', 'path', 'reason']],
  ['SW_ERR_LINK_TLS_FILE', 500, ['acquirer', 'path', 'reason', 'what']],
  ['SW_ERR_DB_UNAVAILABLE', 503, ['reason', 'target']],
  ['SW_ERR_DB_EMBEDDED_FAILED', 500, ['fix', 'reason', 'step']],
  ['SW_ERR_DB_LOGIN_REFUSED', 503, ['reason', 'target']],
  ['SW_ERR_MIGRATION_CHECKSUM', 500, ['file', 'module']],
  ['SW_ERR_MIGRATION_FAILED', 500, ['file', 'module', 'reason']],
  ['SW_ERR_GROUP_COMMIT_CLOSED', 503, ['name']],
  ['SW_ERR_GROUP_COMMIT_OVERLOADED', 503, ['max', 'name']],
  ['SW_ERR_GROUP_COMMIT_UNKNOWN', 504, ['name', 'reason']],
  ['SW_ERR_GROUP_COMMIT_FLUSH', 500, ['got', 'name', 'want']],
  ['SW_ERR_REDIS_UNAVAILABLE', 503, ['reason', 'target']],
  ['SW_ERR_LEDGER_BAD_REQUEST', 400, ['planId', 'reason']],
  ['SW_ERR_LEDGER_PLAN_NOT_FOUND', 404, ['planId']],
  ['SW_ERR_LEDGER_PLAN_STATE', 409, ['op', 'planId', 'state']],
  ['SW_ERR_LEDGER_IDEMPOTENCY_MISMATCH', 409, ['op', 'planId']],
  ['SW_ERR_LEDGER_BATCH_ORDER', 409, ['batchId', 'expected', 'planId']],
  ['SW_ERR_LEDGER_ACCOUNT_NOT_FOUND', 404, ['account']],
  ['SW_ERR_LEDGER_ACCOUNT_CONFLICT', 409, ['account']],
  ['SW_ERR_LEDGER_CURRENCY_MISMATCH', 422, ['account', 'currency', 'index', 'planId']],
  ['SW_ERR_LEDGER_INSUFFICIENT_FUNDS', 422, ['account', 'planId']],
  ['SW_ERR_LEDGER_UNKNOWN_CURRENCY', 400, ['currency']],
  ['SW_ERR_SETTLEMENT_FILE_INVALID', 400, ['file', 'line', 'reason']],
  ['SW_ERR_LEDGER_FEES_INVALID', 500, ['file', 'path', 'reason']],
  ['SW_ERR_LEDGER_PAN_FORBIDDEN', 400, ['field', 'planId']],
  ['SW_ERR_LEDGER_CHECK_FAILED', 500, ['count', 'first']],
  ['SW_ERR_RULES_INVALID', 422, ['file', 'path', 'reason', 'rule']],
  ['SW_ERR_RULES_READ', 500, ['file', 'reason']],
  ['SW_ERR_RULES_REFERENCE', 422, ['file', 'kind', 'path', 'ref', 'rule']],
  ['SW_ERR_RULES_VERSION_NOT_FOUND', 404, ['version']],
  ['SW_ERR_RULES_NO_ACTIVE_VERSION', 409, []],
  ['SW_ERR_ROUTING_BAD_CONTEXT', 400, ['path', 'reason']],
  ['SW_ERR_RISK_SCORER_FAILED', 500, ['level', 'reason']],
  ['SW_ERR_RISK_VELOCITY_LATE', 503, ['ms']],
  ['SW_ERR_DETECTOR_UNAVAILABLE', 503, ['reason']],
  ['SW_ERR_REDIS_CONFIG', 500, ['reason']],
  ['SW_ERR_CLI_USAGE', 400, ['usage']],
  ['SW_ERR_NO_LINK', 503, ['acquirer']],
  ['SW_ERR_BREAKER_OPEN', 503, ['acquirer']],
  ['SW_ERR_PAN_HASH_KEY', 500, ['fix', 'reason']],
  ['SW_ERR_PAN_HASH_KEY_MISSING', 500, ['keyId', 'rows', 'tables']],
  ['SW_ERR_SEC_MASTER_KEY', 500, ['reason', 'source']],
  ['SW_ERR_SEC_KEY_FILE', 500, ['file', 'reason']],
  ['SW_ERR_SEC_KEY_TAMPERED', 500, ['name', 'store']],
  ['SW_ERR_SEC_KEY_NOT_FOUND', 404, ['name']],
  ['SW_ERR_SEC_KEY_NAME', 400, ['reason']],
  ['SW_ERR_SEC_KEY_LENGTH', 422, ['expected', 'length', 'name', 'type']],
  ['SW_ERR_SEC_KEY_PARITY', 422, ['name']],
  ['SW_ERR_SEC_WEAK_KEY', 422, ['name']],
  ['SW_ERR_SEC_KEY_USAGE', 422, ['name', 'operation', 'type']],
  ['SW_ERR_SEC_KCV_MISMATCH', 422, ['expected', 'name']],
  ['SW_ERR_SEC_PIN_BLOCK', 422, ['reason']],
  ['SW_ERR_SEC_MAC_INVALID', 422, ['name']],
  ['SW_ERR_SEC_BAD_INPUT', 400, ['operation', 'reason']],
  ['SW_ERR_SEC_SELF_TEST', 500, ['reason']],
  ['SW_ERR_SEC_CLOSED', 503, []],
  ['SW_ERR_SEC_NO_KEY_STORE', 500, ['acquirer', 'what']],
  ['SW_ERR_SEC_KEY_EXCHANGE', 502, ['acquirer', 'reason']],
  ['SW_ERR_START_PORT_IN_USE', 500, ['env', 'key', 'port', 'what']],
  ['SW_ERR_START_LISTEN', 500, ['env', 'host', 'key', 'port', 'reason', 'what']],
  ['SW_ERR_START_DATABASE', 503, ['reason', 'target']],
  ['SW_ERR_START_DATABASE_LOGIN', 503, ['reason', 'target']],
  ['SW_ERR_START_REDIS', 503, ['reason', 'target']],
  ['SW_ERR_START_CONFIG', 500, ['fix', 'path', 'reason']],
  ['SW_ERR_START_RULES', 500, ['dir', 'reason']],
  ['SW_ERR_START_FAILED', 500, ['reason']],
  ['SW_ERR_CONFIG_INVALID', 500, ['path', 'reason']],
  ['SW_ERR_ADMIN_UNAUTHORIZED', 401, ['reason']],
  ['SW_ERR_ADMIN_FORBIDDEN', 403, ['action', 'role']],
  ['SW_ERR_ADMIN_BAD_REQUEST', 400, ['path', 'reason']],
  ['SW_ERR_ADMIN_NOT_FOUND', 404, ['id', 'what']],
  ['SW_ERR_CONTROL_INVALID', 400, ['reason', 'target']],
  ['SW_ERR_ADMIN_NOT_CONFIGURED', 501, ['area']],
  ['SW_ERR_ADMIN_CONFLICT', 409, ['id', 'reason', 'what']],
  ['SW_ERR_ADMIN_RATE_LIMITED', 429, ['limit', 'retryAfterS', 'what']],
  ['SW_ERR_ADMIN_SAME_PERSON', 403, ['actor']],
  ['SW_ERR_ADMIN_INTERNAL', 500, ['reason']],
  ['SW_ERR_ADMIN_TLS', 500, ['key', 'path', 'reason']],
  ['SW_ERR_ADMIN_TOKEN_FILE', 500, ['path', 'reason']],
];

const paramsOf = (template: string): string[] => [...new Set([...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!))].sort();

t.test('the registry holds exactly the pinned codes, in order, with their statuses and template params', async (t) => {
  const codes = Object.keys(ERROR_REGISTRY);
  t.equal(codes.length, PINNED.length, 'as many codes as pinned rows');
  t.same(
    codes,
    PINNED.map(([c]) => c),
    'the same codes in the same order',
  );
  for (const [code, status, params] of PINNED) {
    const e = ERROR_REGISTRY[code];
    t.ok(e, code);
    if (!e) continue;
    t.equal(e.code, code, `${code}: entry names its own code`);
    t.equal(e.httpStatus, status, `${code}: HTTP status`);
    t.same(paramsOf(e.template), [...params].sort(), `${code}: template params`);
  }
});

t.test('every code is SW_ERR_*, every template is text, every status a real 4xx or 5xx', async (t) => {
  const known = new Set([400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 501, 502, 503, 504]);
  for (const e of Object.values(ERROR_REGISTRY)) {
    t.match(e.code, /^SW_ERR_[A-Z0-9_]+$/, e.code);
    t.ok(e.template.trim().length > 0 && !/\{\s*\}/.test(e.template), `${e.code}: template`);
    t.ok(Number.isInteger(e.httpStatus) && e.httpStatus >= 400 && e.httpStatus <= 599 && known.has(e.httpStatus), `${e.code}: ${e.httpStatus} is a 4xx/5xx`);
    t.equal(httpStatusOf(e.code), e.httpStatus);
    t.equal(ERROR_TEMPLATES[e.code], e.template, `${e.code}: ERROR_TEMPLATES is derived from the registry`);
  }
  t.same(Object.keys(ERROR_TEMPLATES), Object.keys(ERROR_REGISTRY));
  t.ok(Object.isFrozen(ERROR_REGISTRY) && Object.isFrozen(ERROR_REGISTRY.SW_ERR_ADMIN_INTERNAL), 'the registry cannot be changed at run time');
});

t.test("statuses callers rely on: overload and dependencies 503, the caller's fault 4xx, internal 500", async (t) => {
  t.equal(new SwitchError('SW_ERR_GROUP_COMMIT_OVERLOADED', { name: 'intent', max: 1 }).httpStatus, 503);
  t.equal(httpStatusOf('SW_ERR_DB_UNAVAILABLE'), 503);
  t.equal(httpStatusOf('SW_ERR_REDIS_UNAVAILABLE'), 503);
  t.equal(httpStatusOf('SW_ERR_ADMIN_INTERNAL'), 500);
  t.equal(httpStatusOf('SW_ERR_ADMIN_BAD_REQUEST'), 400);
  t.equal(httpStatusOf('SW_ERR_ADMIN_NOT_CONFIGURED'), 501);
});

t.test('the codec codes are pinned: renaming one breaks peers that match on them', async (t) => {
  for (const c of [
    'SW_ERR_CODEC_TRUNCATED',
    'SW_ERR_CODEC_BAD_LENGTH',
    'SW_ERR_CODEC_BAD_LENGTH_PREFIX',
    'SW_ERR_CODEC_BAD_CHARSET',
    'SW_ERR_CODEC_BAD_MTI',
    'SW_ERR_CODEC_BAD_BITMAP',
    'SW_ERR_CODEC_UNKNOWN_FIELD',
    'SW_ERR_CODEC_TRAILING_BYTES',
    'SW_ERR_CODEC_OVERSIZED',
    'SW_ERR_CODEC_BAD_TLV',
    'SW_ERR_CODEC_UNKNOWN_TAG',
    'SW_ERR_CODEC_VALUE_INVALID',
    'SW_ERR_SPEC_INVALID',
    'SW_ERR_FRAME_TOO_LARGE',
  ]) {
    t.ok(c in ERROR_REGISTRY, c);
  }
});

t.test('the start-up codes are pinned: npm start prints them, operators and docs match on them', async (t) => {
  for (const c of [
    'SW_ERR_START_PORT_IN_USE',
    'SW_ERR_START_LISTEN',
    'SW_ERR_START_DATABASE',
    'SW_ERR_START_DATABASE_LOGIN',
    'SW_ERR_START_REDIS',
    'SW_ERR_START_CONFIG',
    'SW_ERR_START_RULES',
    'SW_ERR_START_FAILED',
    'SW_ERR_DB_EMBEDDED_FAILED',
    'SW_ERR_PAN_HASH_KEY',
  ]) {
    t.ok(c in ERROR_REGISTRY, c);
  }
  t.equal(
    renderError('SW_ERR_START_PORT_IN_USE', { what: 'PSP', port: 8583, env: 'PSP_PORT', key: 'psp.port' }),
    'PSP port 8583 is in use (set PSP_PORT or psp.port)',
  );
});

t.test('one config code: SW_ERR_CONFIG_INVALID, which start-up reports as SW_ERR_START_CONFIG', async (t) => {
  t.notOk('SW_ERR_SWITCH_CONFIG' in ERROR_REGISTRY, 'the second config code is gone');
  const f = startFailure(new SwitchError('SW_ERR_CONFIG_INVALID', { path: 'psp.prot', reason: 'unknown key in config.json' }));
  t.equal(f.code, 'SW_ERR_START_CONFIG');
  t.match(f.message, /psp\.prot: unknown key in config\.json \(remove it or correct its spelling/);
});

t.test('start-up passes through the TLS and token-file errors, which already name the file and the key', async (t) => {
  const cases = [
    new SwitchError('SW_ERR_ADMIN_TLS', { path: '/etc/x.pem', key: 'admin.tls.certFile', reason: 'cannot be read (ENOENT)' }),
    new SwitchError('SW_ERR_LINK_TLS_FILE', { acquirer: 'acq-a', what: 'ca', path: '/etc/ca.pem', reason: 'ENOENT' }),
  ];
  for (const e of cases) t.equal(startFailure(e), e, e.code);
});

t.test('messages render from templates and errors carry their code', async (t) => {
  t.equal(renderError('SW_ERR_CODEC_BAD_MTI', { offset: 0 }), 'field 0: MTI at byte 0 is not 4 digits');
  const e = new SwitchError('SW_ERR_FRAME_TOO_LARGE', { length: 10, max: 5 });
  t.equal(e.code, 'SW_ERR_FRAME_TOO_LARGE');
  t.equal(e.message, 'frame length 10 exceeds the cap of 5 bytes');
  t.equal(e.httpStatus, 413);
  t.same(e.toJSON(), { code: 'SW_ERR_FRAME_TOO_LARGE', message: e.message });
  t.ok(isSwitchError(e, 'SW_ERR_FRAME_TOO_LARGE'));
});

t.test('errorSummary: one safe summary for every log line', async (t) => {
  const PAN = '4111111111111111';
  await t.test('a SwitchError keeps its code and rendered message', async (t) => {
    const e = new SwitchError('SW_ERR_LINK_TIMEOUT', { link: 'acq-a', mti: '0100', timeoutMs: 1500 });
    t.same(errorSummary(e), { code: 'SW_ERR_LINK_TIMEOUT', message: 'link acq-a: no answer to 0100 within 1500 ms' });
  });
  await t.test('other errors: PAN-like digit runs and long hex scrubbed, their own code kept', async (t) => {
    const e = Object.assign(new Error(`duplicate key value (pan)=(${PAN}) pin block 0412AC89ABCDEF01 key 0123456789ABCDEFFEDCBA9876543210`), { code: '23505' });
    const s = errorSummary(e);
    t.equal(s.code, '23505');
    t.equal(s.message, 'duplicate key value (pan)=([digits]) pin block [hex] key [hex]');
    t.notMatch(JSON.stringify(s), /4111111111111111|0412AC89ABCDEF01|0123456789ABCDEF/);
    t.same(errorSummary(new Error('card 5500000000000004 and 1234567890123')), { message: 'card [digits] and [digits]' }, '13..19 digits');
    t.same(errorSummary(new Error('a run 41111111111111110000 inside a longer number')), { message: 'a run [digits] inside a longer number' });
    t.same(
      errorSummary(new Error('stan 000123 amount 000000001000 port 8583')),
      { message: 'stan 000123 amount 000000001000 port 8583' },
      'short numbers stay',
    );
    t.same(errorSummary(Object.assign(new Error('x'), { code: 'ECONNRESET' })), { code: 'ECONNRESET', message: 'x' });
  });
  await t.test('a code that is not a short identifier is dropped; thrown non-errors are scrubbed too', async (t) => {
    t.same(errorSummary(Object.assign(new Error('x'), { code: `pan ${PAN}` })), { message: 'x' });
    t.same(errorSummary(Object.assign(new Error('x'), { code: 42 })), { message: 'x' });
    t.same(errorSummary(`thrown ${PAN}`), { message: 'thrown [digits]' });
    t.same(errorSummary(undefined), { message: 'undefined' });
    t.same(errorSummary(new TypeError('')), { message: 'TypeError' }, 'an empty message names the error');
  });
  t.equal(scrubSecrets('deadbeefdeadbeef and DEADBEEF'), '[hex] and DEADBEEF', '16+ hex digits only');
});

t.test('docs/errors.md lists every code with its HTTP status (npm run docs:errors)', async (t) => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  t.equal(doc, renderErrorDoc());
  t.match(doc, /\| code \| HTTP \| message \|/);
  t.match(doc, /\| `SW_ERR_GROUP_COMMIT_OVERLOADED` \| 503 \| /);
});
