/**
 * One config schema with commented defaults (docs/architecture.md, "Conventions"; the keys in docs/switch.md,
 * "Configuration"). `CONFIG_SCHEMA` below is the only place the shape is written: every leaf carries its
 * JSON Schema, its default, what it means and the environment variable that sets it, and from it come the
 * TypeScript type (`SwitchConfig`), the defaults (`DEFAULT_CONFIG`), the ajv validation and the environment.
 *
 * Sources, later wins: the defaults, a JSON file (SWITCH_CONFIG or --config), then environment variables, then
 * programmatic overrides. Unknown keys are refused; a key that was removed is refused naming what replaced it.
 */
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { SwitchError } from '../errors.js';
import { PAN_KEY_ID_PATTERN } from '../ledger/pan.js';
import { DO_NOT_HONOUR, DUPLICATE_TRANSMISSION, FORMAT_ERROR, INVALID_MERCHANT, ISSUER_INOPERATIVE, SYSTEM_MALFUNCTION } from './response-codes.js';

// ---------------------------------------------------------------------------------------------------------------
// The schema builder: a leaf is one value, a group an object of leaves and groups.

/** One config value: its JSON Schema, its default (undefined: required wherever its object is given), its meaning, its environment variable. */
export interface Leaf<T> {
  readonly kind: 'leaf';
  readonly schema: Readonly<Record<string, unknown>>;
  readonly default: T | undefined;
  readonly doc: string;
  readonly env?: { readonly name: string; readonly parse: (v: string) => unknown };
  /** The reason given when the value is refused, in place of ajv's message. */
  readonly invalid?: string;
}

/** An object of config values; an optional one (`psp.tls`) has no default and is absent unless given. */
export interface Group<P extends Shape, O extends boolean = boolean> {
  readonly kind: 'group';
  readonly props: P;
  readonly doc: string;
  readonly optional: O;
}

export type ConfigNode = Leaf<unknown> | Group<Shape>;
export type Shape = { readonly [key: string]: ConfigNode };

/** The TypeScript type of a schema node. */
export type Infer<N> = N extends Leaf<infer T> ? T : N extends Group<infer P> ? InferShape<P> : never;
type OptionalKeys<P> = { [K in keyof P]: P[K] extends { readonly optional: true } ? K : never }[keyof P];
type Flat<T> = { [K in keyof T]: T[K] } & {};
type InferShape<P> = Flat<{ -readonly [K in Exclude<keyof P, OptionalKeys<P>>]: Infer<P[K]> } & { -readonly [K in OptionalKeys<P>]?: Infer<P[K]> }>;

/** No default: the value is required wherever its object is given (a TLS file, a token's fields). */
const NONE = undefined;

interface LeafOptions {
  env?: string;
  invalid?: string;
}

function leaf<T>(
  schema: Record<string, unknown>,
  def: T | undefined,
  doc: string,
  o: LeafOptions & { parse?: (v: string, name: string) => unknown } = {},
): Leaf<T> {
  const parse = o.parse ?? ((v: string) => v);
  return {
    kind: 'leaf',
    schema,
    default: def,
    doc,
    ...(o.env ? { env: { name: o.env, parse: (v: string) => parse(v, o.env!) } } : {}),
    ...(o.invalid ? { invalid: o.invalid } : {}),
  };
}

/** An environment variable holding a whole number. */
function wholeNumber(v: string, name: string): number {
  if (!/^[0-9]+$/.test(v)) throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: `env ${name}`, reason: 'must be a whole number' });
  return Number(v);
}

const text = (def: string | undefined, doc: string, o: LeafOptions & { pattern?: string; minLength?: number; maxLength?: number } = {}): Leaf<string> =>
  leaf({ type: 'string', ...pick(o, 'pattern', 'minLength', 'maxLength') }, def, doc, o);
/** A whole number, 0 or more unless `min` says otherwise. */
const whole = (def: number, doc: string, o: LeafOptions & { min?: number; max?: number } = {}): Leaf<number> =>
  leaf({ type: 'integer', minimum: o.min ?? 0, ...(o.max !== undefined ? { maximum: o.max } : {}) }, def, doc, { ...o, parse: wholeNumber });
const decimal = (def: number, doc: string, o: { min: number; max: number }): Leaf<number> => leaf({ type: 'number', minimum: o.min, maximum: o.max }, def, doc);
const flag = (def: boolean, doc: string): Leaf<boolean> => leaf({ type: 'boolean' }, def, doc);
const oneOf = <const V extends readonly string[]>(values: V, def: V[number] | undefined, doc: string, o: LeafOptions = {}): Leaf<V[number]> =>
  leaf({ enum: [...values] }, def, doc, o);
const list = <I extends Shape>(
  item: Group<I, false>,
  def: Array<InferShape<I>>,
  doc: string,
  o: LeafOptions & { parse?: (v: string) => unknown } = {},
): Leaf<Array<InferShape<I>>> => leaf({ type: 'array', items: jsonSchema(item) }, def, doc, o);
const group = <P extends Shape>(doc: string, props: P): Group<P, false> => ({ kind: 'group', props, doc, optional: false });
const optional = <P extends Shape>(doc: string, props: P): Group<P, true> => ({ kind: 'group', props, doc, optional: true });

function pick<O extends object>(o: O, ...keys: Array<keyof O & string>): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}

// ---------------------------------------------------------------------------------------------------------------
// The schema.

const code = (def: string, doc: string): Leaf<string> => text(def, doc, { pattern: '^[0-9A-Z]{2}$' });

// The PSP listeners' keys, written once: the psp group (the first listener) and each of psp.listeners have them.
const PSP_DIALECT = text('iso87-ascii-bbitmap', 'PSP dialect: a spec in specs/ (docs/codec.md).');
const PSP_FRAMER = text('binary2', 'Length header: binary2 | ascii4 | bcd2, optional "+tpdu".');
const PSP_LIMITS = {
  maxConnections: whole(1000, 'PSP connections at most on this listener (TLS handshakes under way count).'),
  maxInFlightPerConnection: whole(512, 'Requests in flight on one connection; beyond it reading pauses.'),
  maxInFlight: whole(
    10_000,
    'Requests in flight across the connections of this listener; beyond it a request is answered responseCodes.unavailable (91) at once (metric switch_psp_limit_hits_total{kind="inflight-total"}).',
  ),
  idleTimeoutMs: whole(300_000, 'A connection without a complete frame for this long is closed.'),
};
const pspTls = () =>
  optional('TLS for PSPs; absent: plain TCP (docs/security.md, "PSP identity").', {
    certFile: text(NONE, 'Certificate chain (PEM file).'),
    keyFile: text(NONE, 'Private key (PEM file).'),
    caFile: text('', 'CA bundle (PEM file) client certificates must chain to; required to ask for them (the system roots are never used).'),
    requestClientCert: flag(
      false,
      'Ask PSPs for a client certificate: one presented must chain to caFile and map to a PSP (identities), else the connection is refused.',
    ),
    requireClientCert: flag(false, 'Refuse connections without a client certificate too (implies requestClientCert).'),
    minVersion: oneOf(['TLSv1.2', 'TLSv1.3'], 'TLSv1.2', 'Oldest TLS version accepted; nothing older than TLSv1.2 can be set.'),
  });
const pspIdentities = () =>
  list(
    group('A PSP known by its client certificate: by subject or by sha256 fingerprint (give one of the two).', {
      name: text(NONE, 'The PSP: recorded on its transactions, listed by the merchants that accept it.', { minLength: 1 }),
      subject: text('', 'Subject attributes the certificate must all have, e.g. "CN=psp-beta" or "CN=psp-beta,O=Beta Payments".', {
        pattern: '^(|[A-Za-z][A-Za-z0-9.-]*=.+)$',
      }),
      fingerprint256: text('', 'sha256 fingerprint of the certificate: 32 hex bytes, colons optional (openssl x509 -noout -fingerprint -sha256).', {
        pattern: '^(|([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2})$',
      }),
    }),
    [],
    "Client certificates mapped to PSPs (needs tls with requestClientCert or requireClientCert): a trusted certificate mapped to none is refused; empty: any trusted certificate is this listener's name.",
  );

export const CONFIG_SCHEMA = group('The switch config (docs/switch.md, "Configuration").', {
  psp: group(
    'The PSP server: where PSPs connect, their dialect and the server\'s limits (docs/network.md, "PSP server"); this group is the first listener, psp.listeners adds more.',
    {
      host: text('127.0.0.1', 'Address PSPs connect to.', { env: 'PSP_HOST' }),
      port: whole(8583, 'Port PSPs connect to (0: any free port, printed at start).', { max: 65535, env: 'PSP_PORT' }),
      dialect: PSP_DIALECT,
      framer: PSP_FRAMER,
      name: text(
        'psp-alpha',
        'PSP name recorded on transactions from this listener (merchants list the PSPs they accept); a connection identified by its client certificate (identities) carries that identity instead.',
      ),
      ...PSP_LIMITS,
      drainTimeoutMs: whole(
        10_000,
        'At shutdown (SIGTERM): how long requests in flight get to be answered, on every listener; those still at an acquirer then are reversed.',
      ),
      tls: pspTls(),
      identities: pspIdentities(),
      listeners: list(
        group('Another PSP listener: its own port, dialect, framer, TLS, identities and limits (the keys of psp, none inherited).', {
          id: text('', 'Listener name in logs and errors (default listener-<n>, n its place in the list from 1).', {
            pattern: '^(|[A-Za-z0-9][A-Za-z0-9_-]{0,31})$',
          }),
          host: text('127.0.0.1', 'Address PSPs connect to.'),
          port: leaf<number>({ type: 'integer', minimum: 0, maximum: 65535 }, NONE, 'Port PSPs connect to (0: any free port).'),
          dialect: PSP_DIALECT,
          framer: PSP_FRAMER,
          name: text('', 'PSP of connections not identified by a client certificate; empty: every connection must be (tls.requireClientCert).'),
          ...PSP_LIMITS,
          tls: pspTls(),
          identities: pspIdentities(),
        }),
        [],
        'More PSP listeners, e.g. one per PSP with its own dialect and framer, or one shared by PSPs told apart by certificate (docs/network.md).',
      ),
      perPsp: group(
        'Each PSP\'s share across every listener, counted by the identity its connections carry; 0: no cap of its own (docs/security.md, "PSP identity").',
        {
          maxConnections: whole(0, 'Connections one PSP may hold; another is closed after its handshake (SW_ERR_NET_PSP_CONNECTION_LIMIT).'),
          maxInFlight: whole(
            0,
            'Requests of one PSP in flight; another is answered responseCodes.unavailable (91) at once (SW_ERR_NET_PSP_INFLIGHT_LIMIT), the other PSPs still served.',
          ),
          overrides: list(
            group('The share of one PSP.', {
              name: text(NONE, 'The PSP (as recorded on its transactions).', { minLength: 1 }),
              maxConnections: leaf<number>({ type: 'integer', minimum: 0 }, NONE, 'Its connections at most (0: no cap).'),
              maxInFlight: leaf<number>({ type: 'integer', minimum: 0 }, NONE, 'Its requests in flight at most (0: no cap).'),
            }),
            [],
            'Shares of named PSPs, in place of the two above.',
          ),
        },
      ),
    },
  ),
  admin: group('The admin API, the risk-team console and the metrics (docs/admin.md).', {
    enabled: flag(true, 'Start the admin server.'),
    host: text('127.0.0.1', 'Address of the admin server.', { env: 'ADMIN_HOST' }),
    port: whole(8080, 'Port of the admin server (0: any free port, printed at start).', { max: 65535, env: 'ADMIN_PORT' }),
    tokens: list(
      group('A bearer token: who holds it, what it may do, and the sha256 of the token (never the token itself).', {
        name: text(NONE, 'Who holds the token (the audit log names them).'),
        role: oneOf(['viewer', 'risk-editor', 'operator', 'approver'], NONE, 'What the token may do (docs/admin.md).'),
        sha256: text(NONE, 'sha256 of the token, 64 lower-case hex digits.', { pattern: '^[0-9a-f]{64}$' }),
        expires: text('', 'ISO 8601 time from which the token is refused (e.g. 2027-06-30T00:00:00Z); empty: it does not expire.'),
      }),
      [],
      'Bearer tokens of the admin API (env "name:role:sha256[:expires],…"); none: npm start makes a one-run operator token, kept in data/admin.token (mode 0600).',
      {
        env: 'ADMIN_TOKENS',
        parse: (v) =>
          v
            .split(',')
            .filter((x) => x.trim() !== '')
            .map((x) => {
              const [name, role, sha256, ...expires] = x.trim().split(':');
              return { name, role, sha256, expires: expires.join(':') };
            }),
      },
    ),
    tls: optional('TLS for the admin server (API, console, metrics, docs); absent: plain HTTP (docs/admin.md, "TLS").', {
      certFile: text(NONE, 'Certificate chain (PEM file).'),
      keyFile: text(NONE, 'Private key (PEM file, no passphrase; keep it mode 0600).'),
      minVersion: oneOf(['TLSv1.2', 'TLSv1.3'], 'TLSv1.2', 'Oldest TLS version accepted; nothing older than TLSv1.2 can be set.'),
    }),
    metricsAccess: oneOf(
      ['open', 'token'],
      'open',
      '/metrics: open (anyone who reaches the admin address, so Prometheus scrapes without a token) or token (a bearer token of any role; docs/admin.md).',
    ),
    docsAccess: oneOf(['open', 'token'], 'open', '/docs (Swagger UI, the OpenAPI document): open, or token (a bearer token of any role; docs/admin.md).'),
    makerChecker: oneOf(
      ['auto', 'on', 'off'],
      'auto',
      'Activating a rules version needs a second person with the approver role (docs/admin.md, "Maker-checker"): on, off, or auto (on when an approver token is configured).',
    ),
    heavyRequestsPerMinute: whole(30, 'Per token: validate, evaluate and backtest requests allowed a minute (refused with 429 beyond).', { min: 1 }),
  }),
  database: group('PostgreSQL.', {
    url: text(
      '',
      'PostgreSQL URL (?options=-c search_path=… selects a schema; several hosts with target_session_attrs=read-write follow a failover); empty: an embedded PostgreSQL under dataDir.',
      { env: 'DATABASE_URL' },
    ),
    dataDir: text('data/pg', 'Data directory of the embedded PostgreSQL (its folder also holds the generated PAN hash key).', { env: 'SWITCH_DATA_DIR' }),
    poolSize: whole(10, 'Connections of the main pool (each write stream has one more of its own).', { min: 2, max: 200 }),
  }),
  redis: group('Redis, shared by instances.', {
    url: text('', 'Redis URL; empty: the failure detector and velocity counters stay in memory.', { env: 'REDIS_URL' }),
    prefix: text('sw:', 'Key prefix (instances sharing health use the same).', { minLength: 1, maxLength: 64 }),
  }),
  rulesDir: text('rules', 'Rule files, imported as version 1 on a first start (docs/routing.md).', { env: 'RULES_DIR' }),
  acquirerTimeoutMs: whole(0, "Overrides every acquirer's response timeout when > 0 (0: each acquirer's own, rules/acquirers.yaml).", {
    env: 'ACQUIRER_TIMEOUT_MS',
  }),
  duplicateWindowMs: whole(
    10 * 60_000,
    'A request without DE12/DE13 with the same MTI class, DE11, DE41 and DE42 as one this recent is a duplicate (docs/switch.md, "Duplicates and repeats").',
  ),
  groupCommitMs: decimal(0, "Group commit: longest wait of a write stream's first write (0: a batch goes as soon as the stream is idle).", { min: 0, max: 50 }),
  captures: group('Captures (docs/switch.md, "Captures").', {
    sequenceField: whole(
      63,
      'PSP field of a 0220 that carries its clearing sequence as 4 digits SSCC: capture SS of CC. SS below CC: a partial capture, the rest of the authorization stays held for the next; SS = CC, or no such field: the final capture, the rest released.',
      { min: 2, max: 128 },
    ),
  }),
  authentication: group(
    'How a payment was authenticated, read for routing and risk coverage (docs/routing.md, "Authentication"): the channel from DE22 and DE25, the ECI from a PSP field.',
    {
      eciField: whole(61, 'The PSP field holding the e-commerce indicator (two digits); 0: the PSPs send none.', { max: 128 }),
      eciOffset: whole(0, 'Where in that field the two ECI digits start (0: its first two characters).', { max: 997 }),
    },
  ),
  cutoverTotals: group('Cut-over totals (docs/switch.md, "Cut-over totals"): a 0500 per acquirer and currency after each business day.', {
    enabled: flag(true, "Send each 1987-dialect acquirer the closed day's totals (0500, DE74-DE89) after its cut-over, and check its 0510."),
    delayMs: whole(60_000, 'Wait after the cut-over before the totals are counted: requests still in flight at the cut-over are answered by then.'),
    timeoutMs: whole(30_000, 'Response timeout of the 0500.', { min: 1 }),
  }),
  expiry: group('Authorization expiry (docs/switch.md, "Authorization expiry").', {
    holdAgeMs: whole(7 * 24 * 3600_000, 'Approved authorizations (0100) older than this are rolled back.'),
    sweepIntervalMs: whole(60_000, 'Period of the sweeper: expiry, recovery after a crash, stale capture claims.', { min: 10 }),
  }),
  saf: group(
    "Store-and-forward: an entry is repeated with back-off (retryInitialMs doubling up to retryMaxMs) until the acquirer answers it with a code that closes it, and becomes a dead letter only once it is expireAfterMs old. An operator's retry of a dead letter repeats it for retryWindowMs more; if that fails too, it is a dead letter again.",
    {
      pollMs: whole(500, 'How often the queue is looked at (a queued entry also wakes it).', { min: 10 }),
      retryInitialMs: whole(1000, 'Wait before the first repeat.'),
      retryMaxMs: whole(60_000, 'Longest wait between repeats.'),
      expireAfterMs: whole(24 * 3600_000, 'Age at which an entry still not closed becomes a dead letter (with an alert).'),
      timeoutMs: whole(10_000, 'Response timeout of each repeat.', { min: 1 }),
      retryWindowMs: whole(3600_000, "How long an operator's retry of a dead letter repeats it.", { min: 1 }),
    },
  ),
  panHashKey: text(
    '',
    'HMAC key of PAN hashes in the database; empty: generated into data/pan-hash.key with the embedded database, refused with any other (src/switch/pan-key.ts).',
    {
      env: 'PAN_HASH_KEY',
      pattern: '^(|.{16,})$',
      invalid: 'must be 16 characters or more, or empty (a generated key, with the embedded database only)',
    },
  ),
  panHashKeys: list(
    group('A PAN hash key: its id, stored with every hash it makes, and its secret.', {
      id: text(NONE, 'Key id, 1 to 16 letters, digits, _ or - (k1 is the id of panHashKey and of the generated key).', { pattern: PAN_KEY_ID_PATTERN }),
      secret: text(NONE, 'HMAC secret, 16 characters or more (e.g. openssl rand -base64 32).', { minLength: 16 }),
    }),
    [],
    'PAN hash keys with their ids, the current one first (env "id:secret,…"): new hashes use the first, the others compare with the rows they hashed; panHashKey, if set, joins them as k1 (src/switch/pan-key.ts, docs/security.md).',
    {
      env: 'PAN_HASH_KEYS',
      // an entry without an id gets none (refused as such), so a secret never lands where an id is named
      parse: (v) =>
        v
          .split(',')
          .filter((x) => x.trim() !== '')
          .map((x) => {
            const at = x.indexOf(':');
            return at < 0 ? { secret: x.trim() } : { id: x.slice(0, at).trim(), secret: x.slice(at + 1).trim() };
          }),
    },
  ),
  panHashKeysFile: text(
    '',
    'A file of PAN hash keys instead of panHashKeys, mode 0600 (others may not read it): "id:secret" lines or a JSON array of {id, secret}, the current one first.',
    { env: 'PAN_HASH_KEYS_FILE' },
  ),
  security: group('Card-security keys: the soft HSM and its key file (docs/security.md, "Key store", "PIN translation").', {
    keyFile: text(
      '',
      'Key file of the soft HSM (npm run keys), opened at start under the master key in SW_MASTER_KEY (never in this config); empty: no key store, and a request with a PIN block (DE52) is declined with responseCodes.pinError.',
      { env: 'SW_KEY_FILE' },
    ),
  }),
  responseCodes: group(
    'DE39 codes the switch forms itself, two characters 0-9 A-Z (docs/switch.md, "Response codes"; the fixed ones are in src/switch/response-codes.ts).',
    {
      unavailable: code(
        ISSUER_INOPERATIVE,
        'Acquirer unavailable: no link, a timeout or a lost connection (the reversal queued), the database unavailable, an approval that could not be held, too many requests in flight, the switch stopping, a reversal of an original still in flight.',
      ),
      formatError: code(FORMAT_ERROR, 'A required field missing, a PAN not 12-19 digits, an amount not 1-12 digits, an unknown currency, a bad DE90.'),
      duplicate: code(DUPLICATE_TRANSMISSION, 'A duplicate whose original never got an answer, or the same duplicate key with another amount or card.'),
      unknownMerchant: code(INVALID_MERCHANT, 'Unknown merchant (DE42), or the PSP not among those it accepts.'),
      reversedBeforeArrival: code(DO_NOT_HONOUR, 'An authorization whose reversal arrived first (an orphan reversal).'),
      systemError: code(SYSTEM_MALFUNCTION, 'Routing failed unexpectedly.'),
      pinError: code(
        SYSTEM_MALFUNCTION,
        'A PIN block (DE52) the switch cannot translate: no key store, no PIN key of the PSP or the acquirer, a block that does not decrypt under the PSP\'s key (docs/security.md, "PIN translation"); never sent to an acquirer.',
      ),
    },
  ),
  builtInSimulators: flag(true, 'Start the acquirer simulators rules/acquirers.yaml describes for acquirers with port 0.'),
  logLevel: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info', 'pino log level.', { env: 'LOG_LEVEL' }),
});

/**
 * Keys that were removed, each with what replaced it: a config that still sets one is refused with the hint
 * (a value that would silently do nothing is worse than a start refused).
 */
export const REMOVED_KEYS: Readonly<Record<string, string>> = {
  'responseCodes.noRoute':
    'removed: set no_route_decline_code in rules/routing.yaml (the active rule set decides the code of a request no route takes, docs/routing.md)',
};

// ---------------------------------------------------------------------------------------------------------------
// What the schema gives: the type, the defaults, the JSON Schema, the environment.

export type SwitchConfig = Infer<typeof CONFIG_SCHEMA>;

/** The defaults, from the schema. */
export const DEFAULT_CONFIG: SwitchConfig = defaultsOf(CONFIG_SCHEMA, '') as SwitchConfig;

function defaultsOf(g: Group<Shape>, at: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, n] of Object.entries(g.props)) {
    const p = at ? `${at}.${k}` : k;
    if (n.kind === 'group') {
      if (!n.optional) out[k] = defaultsOf(n, p);
    } else if (n.default === undefined) {
      throw new Error(`config schema: ${p} has no default`);
    } else {
      out[k] = structuredClone(n.default);
    }
  }
  return out;
}

/** The JSON Schema of a node, each leaf's default and meaning in `default` and `description`. */
function jsonSchema(n: ConfigNode): Record<string, unknown> {
  if (n.kind === 'leaf') return { ...n.schema, description: n.doc, ...(n.default !== undefined ? { default: n.default } : {}) };
  const entries = Object.entries(n.props);
  const required = entries.filter(([, c]) => c.kind === 'leaf' && c.default === undefined).map(([k]) => k);
  return {
    type: 'object',
    description: n.doc,
    additionalProperties: false,
    properties: Object.fromEntries(entries.map(([k, c]) => [k, jsonSchema(c)])),
    ...(required.length ? { required } : {}),
  };
}

/** The config's JSON Schema (draft-07), defaults and descriptions included. */
export const CONFIG_JSON_SCHEMA: Readonly<Record<string, unknown>> = jsonSchema(CONFIG_SCHEMA);

/** Every leaf of the schema by its dotted key, in schema order (docs, tests). */
export function configLeaves(g: Group<Shape> = CONFIG_SCHEMA, at = ''): Array<{ key: string; leaf: Leaf<unknown> }> {
  return Object.entries(g.props).flatMap(([k, n]) => {
    const key = at ? `${at}.${k}` : k;
    return n.kind === 'group' ? configLeaves(n, key) : [{ key, leaf: n }];
  });
}

type Plain = Record<string, unknown>;
/** Objects merged key by key (later wins); arrays and scalars replace. Config layers and test overrides use it. */
export function mergeConfig(base: Plain, over: Plain): Plain {
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = base[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b) ? mergeConfig(b as Plain, v as Plain) : v;
  }
  return out;
}

/** The values the environment sets: each leaf's variable, when set and not empty. */
function fromEnv(env: NodeJS.ProcessEnv): Plain {
  const o: Plain = {};
  for (const { key, leaf } of configLeaves()) {
    if (!leaf.env) continue;
    const v = env[leaf.env.name];
    if (v === undefined || v === '') continue;
    const path = key.split('.');
    let cur = o;
    for (const k of path.slice(0, -1)) cur = (cur[k] ??= {}) as Plain;
    cur[path[path.length - 1]!] = leaf.env.parse(v);
  }
  return o;
}

let validate: ReturnType<Ajv['compile']> | undefined;

/** Builds the config from defaults, an optional JSON file and the environment; refuses unknown and removed keys. */
export function loadConfig(opts: { file?: string; env?: NodeJS.ProcessEnv; overrides?: Plain } = {}): SwitchConfig {
  const env = opts.env ?? process.env;
  // a copy: the caller may change its config (main.ts adds a one-run token) without changing the defaults
  let cfg: Plain = structuredClone(DEFAULT_CONFIG) as unknown as Plain;
  const file = opts.file ?? env.SWITCH_CONFIG;
  if (file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: file, reason: `cannot read JSON (${(e as Error).message})` });
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: file, reason: 'must be a JSON object' });
    cfg = mergeConfig(cfg, parsed as Plain);
    check(cfg, file); // a key the file got wrong is named with the file
  }
  cfg = mergeConfig(cfg, fromEnv(env));
  if (opts.overrides) cfg = mergeConfig(cfg, opts.overrides);
  check(cfg, opts.overrides ? 'the environment or the overrides' : 'the environment');
  return cfg as unknown as SwitchConfig;
}

function check(cfg: Plain, source: string): void {
  for (const [key, hint] of Object.entries(REMOVED_KEYS)) {
    if (has(cfg, key)) throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: key, reason: `${hint} (in ${source})` });
  }
  // useDefaults: the leaves of an optional group (psp.tls) and of list items (psp.listeners) get their defaults
  validate ??= new Ajv({ allErrors: false, strict: false, useDefaults: true }).compile(CONFIG_JSON_SCHEMA);
  if (validate(cfg)) {
    checkPsp((cfg as unknown as SwitchConfig).psp, source);
    return;
  }
  const e = validate.errors?.[0];
  const at = (e?.instancePath || '/').replace(/^\//, '').replace(/\//g, '.');
  if (e?.keyword === 'additionalProperties') {
    const key = String((e.params as { additionalProperty?: string }).additionalProperty);
    throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: at ? `${at}.${key}` : key, reason: `unknown key in ${source}` });
  }
  const reason = configLeaves().find((l) => l.key === at)?.leaf.invalid ?? e?.message ?? 'invalid';
  throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: at || '(root)', reason: `${reason} (from ${source})` });
}

function has(o: Plain, key: string): boolean {
  let cur: unknown = o;
  for (const k of key.split('.')) {
    if (!cur || typeof cur !== 'object' || !Object.hasOwn(cur, k)) return false;
    cur = (cur as Plain)[k];
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// PSP listeners: what the schema cannot say (docs/network.md, "PSP server"; docs/security.md, "PSP identity").

/** One PSP listener, as the switch starts it: the psp group (id "psp") or one of psp.listeners. */
export type PspListenerConfig = SwitchConfig['psp']['listeners'][number];

/** Every PSP listener: the psp group first (id "psp"), then psp.listeners (id default listener-<n>). */
export function pspListeners(psp: SwitchConfig['psp']): PspListenerConfig[] {
  const { host, port, dialect, framer, name, maxConnections, maxInFlightPerConnection, maxInFlight, idleTimeoutMs, tls, identities } = psp;
  const first: PspListenerConfig = {
    id: 'psp',
    host,
    port,
    dialect,
    framer,
    name,
    maxConnections,
    maxInFlightPerConnection,
    maxInFlight,
    idleTimeoutMs,
    identities,
    ...(tls ? { tls } : {}),
  };
  return [first, ...psp.listeners.map((l, i) => ({ ...l, id: l.id || `listener-${i + 1}` }))];
}

/** Refuses what would start a listener that cannot tell its PSPs apart, or could not start at all. */
function checkPsp(psp: SwitchConfig['psp'], source: string): void {
  const bad = (path: string, reason: string) => new SwitchError('SW_ERR_CONFIG_INVALID', { path, reason: `${reason} (from ${source})` });
  const ids = new Set<string>();
  const ports = new Set<string>();
  pspListeners(psp).forEach((l, i) => {
    const at = i === 0 ? 'psp' : `psp.listeners.${i - 1}`;
    if (ids.has(l.id)) throw bad(`${at}.id`, `listener ${l.id} is named twice`);
    ids.add(l.id);
    if (l.port !== 0) {
      const where = `${l.host}:${l.port}`;
      if (ports.has(where)) throw bad(`${at}.port`, `${where} is taken by another listener`);
      ports.add(where);
    }
    const asks = !!l.tls && (l.tls.requestClientCert || l.tls.requireClientCert);
    if (asks && !l.tls!.caFile) throw bad(`${at}.tls.caFile`, 'required with requestClientCert or requireClientCert');
    if (l.identities.length > 0 && !asks) throw bad(`${at}.identities`, 'need tls with requestClientCert or requireClientCert');
    l.identities.forEach((id, j) => {
      if (!id.subject === !id.fingerprint256) throw bad(`${at}.identities.${j}`, 'give exactly one of subject and fingerprint256');
    });
    if (l.name === '' && !l.tls?.requireClientCert)
      throw bad(`${at}.name`, 'may be empty only with tls.requireClientCert (every connection then has a certificate identity)');
  });
  const named = new Set<string>();
  psp.perPsp.overrides.forEach((o, i) => {
    if (named.has(o.name)) throw bad(`psp.perPsp.overrides.${i}.name`, `${o.name} is listed twice`);
    named.add(o.name);
  });
}
