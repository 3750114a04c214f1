/**
 * One config schema with commented defaults (docs/architecture.md, "Conventions"). Sources, later wins: the defaults
 * below, a JSON file (SWITCH_CONFIG or --config), then environment variables. Unknown keys are refused.
 */
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { SwitchError } from '../errors.js';

export interface SwitchConfig {
  psp: {
    /** Where PSPs connect. */
    host: string;
    port: number;
    dialect: string;
    /** binary2 | ascii4 | bcd2, optional "+tpdu". */
    framer: string;
    /** PSP name recorded on transactions from this listener (merchants list the PSPs they accept). */
    name: string;
    maxConnections: number;
    maxInFlightPerConnection: number;
    /** Requests in flight across every PSP connection; beyond it a request is answered 91 at once (metric switch_psp_limit_hits_total{kind="inflight-total"}). */
    maxInFlight: number;
    idleTimeoutMs: number;
    /** At shutdown (SIGTERM): how long requests in flight get to be answered; those still at an acquirer then are reversed. */
    drainTimeoutMs: number;
    tls?: { certFile: string; keyFile: string };
  };
  admin: { enabled: boolean; host: string; port: number; tokens: Array<{ name: string; role: 'viewer' | 'risk-editor' | 'operator'; sha256: string }> };
  /** Empty: DATABASE_URL, else an embedded PostgreSQL under dataDir. */
  database: { url: string; dataDir: string; poolSize: number };
  /** Empty: REDIS_URL, else the failure detector and velocity counters stay in memory. prefix: key prefix (instances sharing health use the same). */
  redis: { url: string; prefix: string };
  rulesDir: string;
  /** Overrides every acquirer's response timeout when > 0. */
  acquirerTimeoutMs: number;
  /** A request without DE12/DE13 with the same MTI class, DE11, DE41 and DE42 as one this recent is a duplicate (docs/switch.md). */
  duplicateWindowMs: number;
  /** Group commit: longest wait of a batch's first write. */
  groupCommitMs: number;
  expiry: { holdAgeMs: number; sweepIntervalMs: number };
  /**
   * Store-and-forward: an entry is repeated with back-off (retryInitialMs doubling up to retryMaxMs) until the
   * acquirer answers it with a code that closes it, and becomes a dead letter only once it is expireAfterMs old.
   * An operator's retry of a dead letter repeats it for retryWindowMs more; if that fails too, it is a dead letter again.
   */
  saf: { pollMs: number; retryInitialMs: number; retryMaxMs: number; expireAfterMs: number; timeoutMs: number; retryWindowMs: number };
  /** HMAC key for PAN hashes in the database (env PAN_HASH_KEY). Empty: generated into data/pan-hash.key with the embedded database, refused with any other (src/switch/pan-key.ts). */
  panHashKey: string;
  responseCodes: { noRoute: string; unavailable: string; formatError: string; duplicate: string; unknownMerchant: string; reversedBeforeArrival: string; systemError: string };
  /** Start the acquirer simulators rules/acquirers.yaml describes for acquirers with port 0. */
  builtInSimulators: boolean;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

export const DEFAULT_CONFIG: SwitchConfig = {
  psp: { host: '127.0.0.1', port: 8583, dialect: 'iso87-ascii-bbitmap', framer: 'binary2', name: 'psp-alpha', maxConnections: 1000, maxInFlightPerConnection: 512, maxInFlight: 10_000, idleTimeoutMs: 300_000, drainTimeoutMs: 10_000 },
  admin: { enabled: true, host: '127.0.0.1', port: 8080, tokens: [] },
  database: { url: '', dataDir: 'data/pg', poolSize: 10 },
  redis: { url: '', prefix: 'sw:' },
  rulesDir: 'rules',
  acquirerTimeoutMs: 0,
  duplicateWindowMs: 10 * 60_000,
  groupCommitMs: 0,
  expiry: { holdAgeMs: 7 * 24 * 3600_000, sweepIntervalMs: 60_000 },
  saf: { pollMs: 500, retryInitialMs: 1000, retryMaxMs: 60_000, expireAfterMs: 24 * 3600_000, timeoutMs: 10_000, retryWindowMs: 3600_000 },
  panHashKey: '',
  responseCodes: { noRoute: '92', unavailable: '91', formatError: '30', duplicate: '94', unknownMerchant: '03', reversedBeforeArrival: '05', systemError: '96' },
  builtInSimulators: true,
  logLevel: 'info',
};

const str = { type: 'string' } as const;
const int = { type: 'integer', minimum: 0 } as const;
const port = { type: 'integer', minimum: 0, maximum: 65535 } as const;
const obj = (properties: Record<string, unknown>, required: string[] = []) => ({ type: 'object', additionalProperties: false, properties, required });

const SCHEMA = obj({
  psp: obj({ host: str, port, dialect: str, framer: str, name: str, maxConnections: int, maxInFlightPerConnection: int, maxInFlight: int, idleTimeoutMs: int, drainTimeoutMs: int, tls: obj({ certFile: str, keyFile: str }, ['certFile', 'keyFile']) }),
  admin: obj({ enabled: { type: 'boolean' }, host: str, port, tokens: { type: 'array', items: obj({ name: str, role: { enum: ['viewer', 'risk-editor', 'operator'] }, sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' } }, ['name', 'role', 'sha256']) } }),
  database: obj({ url: str, dataDir: str, poolSize: { type: 'integer', minimum: 2, maximum: 200 } }),
  redis: obj({ url: str, prefix: { type: 'string', minLength: 1, maxLength: 64 } }),
  rulesDir: str,
  acquirerTimeoutMs: int,
  duplicateWindowMs: int,
  groupCommitMs: { type: 'number', minimum: 0, maximum: 50 },
  expiry: obj({ holdAgeMs: int, sweepIntervalMs: { type: 'integer', minimum: 10 } }),
  saf: obj({ pollMs: { type: 'integer', minimum: 10 }, retryInitialMs: int, retryMaxMs: int, expireAfterMs: int, timeoutMs: { type: 'integer', minimum: 1 }, retryWindowMs: { type: 'integer', minimum: 1 } }),
  panHashKey: { type: 'string', pattern: '^(|.{16,})$' },
  responseCodes: obj(Object.fromEntries(Object.keys(DEFAULT_CONFIG.responseCodes).map((k) => [k, { type: 'string', pattern: '^[0-9A-Z]{2}$' }]))),
  builtInSimulators: { type: 'boolean' },
  logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
});

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

function fromEnv(env: NodeJS.ProcessEnv): Plain {
  const o: Plain = {};
  const set = (path: string[], v: unknown) => {
    let cur = o;
    for (const k of path.slice(0, -1)) cur = (cur[k] ??= {}) as Plain;
    cur[path[path.length - 1]!] = v;
  };
  const num = (name: string, path: string[]) => {
    const v = env[name];
    if (v === undefined || v === '') return;
    if (!/^[0-9]+$/.test(v)) throw new SwitchError('SW_ERR_SWITCH_CONFIG', { path: `env ${name}`, reason: 'must be a whole number' });
    set(path, Number(v));
  };
  if (env.DATABASE_URL) set(['database', 'url'], env.DATABASE_URL);
  if (env.REDIS_URL) set(['redis', 'url'], env.REDIS_URL);
  if (env.PSP_HOST) set(['psp', 'host'], env.PSP_HOST);
  num('PSP_PORT', ['psp', 'port']);
  if (env.ADMIN_HOST) set(['admin', 'host'], env.ADMIN_HOST);
  num('ADMIN_PORT', ['admin', 'port']);
  if (env.RULES_DIR) set(['rulesDir'], env.RULES_DIR);
  if (env.PAN_HASH_KEY) set(['panHashKey'], env.PAN_HASH_KEY);
  if (env.LOG_LEVEL) set(['logLevel'], env.LOG_LEVEL);
  if (env.SWITCH_DATA_DIR) set(['database', 'dataDir'], env.SWITCH_DATA_DIR);
  num('ACQUIRER_TIMEOUT_MS', ['acquirerTimeoutMs']);
  if (env.ADMIN_TOKENS) {
    // "name:role:sha256,name:role:sha256" (sha256 of each bearer token, never the token itself)
    set(['admin', 'tokens'], env.ADMIN_TOKENS.split(',').filter((x) => x.trim() !== '').map((x) => {
      const [name, role, sha256] = x.trim().split(':');
      return { name, role, sha256 };
    }));
  }
  return o;
}

let validate: ReturnType<Ajv['compile']> | undefined;

/** Builds the config from defaults, an optional JSON file and the environment; refuses unknown keys. */
export function loadConfig(opts: { file?: string; env?: NodeJS.ProcessEnv; overrides?: Plain } = {}): SwitchConfig {
  const env = opts.env ?? process.env;
  let cfg: Plain = DEFAULT_CONFIG as unknown as Plain;
  const file = opts.file ?? env.SWITCH_CONFIG;
  if (file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new SwitchError('SW_ERR_SWITCH_CONFIG', { path: file, reason: `cannot read JSON (${(e as Error).message})` });
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new SwitchError('SW_ERR_SWITCH_CONFIG', { path: file, reason: 'must be a JSON object' });
    cfg = mergeConfig(cfg, parsed as Plain);
    check(cfg, file); // a key the file got wrong is named with the file
  }
  cfg = mergeConfig(cfg, fromEnv(env));
  if (opts.overrides) cfg = mergeConfig(cfg, opts.overrides);
  check(cfg, opts.overrides ? 'the environment or the overrides' : 'the environment');
  return cfg as unknown as SwitchConfig;
}

function check(cfg: Plain, source: string): void {
  validate ??= new Ajv({ allErrors: false, strict: false }).compile(SCHEMA);
  if (validate(cfg)) return;
  const e = validate.errors?.[0];
  const at = (e?.instancePath || '/').replace(/^\//, '').replace(/\//g, '.');
  if (e?.keyword === 'additionalProperties') {
    const key = String((e.params as { additionalProperty?: string }).additionalProperty);
    throw new SwitchError('SW_ERR_SWITCH_CONFIG', { path: at ? `${at}.${key}` : key, reason: `unknown key in ${source}` });
  }
  const reason = at === 'panHashKey' ? 'must be 16 characters or more, or empty (a generated key, with the embedded database only)' : (e?.message ?? 'invalid');
  throw new SwitchError('SW_ERR_SWITCH_CONFIG', { path: at || '(root)', reason: `${reason} (from ${source})` });
}
