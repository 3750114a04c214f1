/**
 * The PAN hash keys (docs/switch.md, "PAN hash key"; docs/security.md, "PAN hash keys"): the HMAC keys of the
 * PAN hashes stored with every transaction. With a hash and the masked PAN (6+4) anyone who knows its key finds
 * the PAN in about 10^6 guesses, so every key is a secret.
 *
 * A set of keys, each with an id stored beside every hash it makes; the first is the current one (new hashes),
 * the others are kept to compare with the rows they hashed until those age out:
 *  - `panHashKeys` (PAN_HASH_KEYS="k2:secret,k1:secret") or `panHashKeysFile` (PAN_HASH_KEYS_FILE: "id:secret"
 *    lines or a JSON array of {id, secret}, mode 0600: a file others can read is refused);
 *  - the single key of earlier versions is the legacy key, id `k1`, which rows written before key ids (no id
 *    stored) were hashed with: `panHashKey` (PAN_HASH_KEY), or with none configured and the embedded database,
 *    the key generated on the first start into the data folder (`data/pan-hash.key`, mode 0600) and read back
 *    later. Alone it is the whole set; beside a list it joins it as k1 (a list naming k1 must give it the same
 *    secret);
 *  - with no key at all and any database but the embedded one, the switch refuses to start;
 *  - the development key of earlier versions, which is published, is refused everywhere.
 * At start the switch counts the rows hashed with keys no longer in the set and warns (warnMissingPanKeys).
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import type { Logger } from 'pino';
import { SwitchError, errorSummary, renderError } from '../errors.js';
import { LEGACY_PAN_KEY_ID, PAN_KEY_ID_PATTERN, PanKeyRing, storedKeyId, type PanKey } from '../ledger/pan.js';
import { panKeyRows } from '../ledger/store.js';
import { inTransaction } from '../store/tx.js';
import type { SwitchConfig } from './config.js';
import { switchPanKeyRows } from './store/queries.js';

/** The key earlier versions used when none was configured: known to everyone, never accepted. */
export const PUBLISHED_DEV_PAN_HASH_KEY = 'dev-only-pan-hash-key-change-me';
export const PAN_HASH_KEY_FILE = 'pan-hash.key';

/** `data/pan-hash.key`: beside the embedded database's data directory (`database.dataDir`, default data/pg). */
export function panHashKeyFile(cfg: Pick<SwitchConfig, 'database'>): string {
  return path.join(path.dirname(path.resolve(cfg.database.dataDir)), PAN_HASH_KEY_FILE);
}

const HOW = 'set PAN_HASH_KEY or panHashKey to a random secret of 32 characters or more, e.g. `openssl rand -base64 32`';
const HOW_LIST = 'PAN_HASH_KEYS="k2:<new secret>,k1:<old secret>", each secret 16 characters or more, e.g. `openssl rand -base64 32`';
const KEY_ID_RE = new RegExp(PAN_KEY_ID_PATTERN);

const refuse = (reason: string, fix: string, cause?: unknown): SwitchError =>
  new SwitchError('SW_ERR_PAN_HASH_KEY', { reason, fix }, cause === undefined ? undefined : { cause });

/** A key file's contents, or null when it does not exist; refused when others can read it. */
async function readSecretFile(file: string, what: string): Promise<string | null> {
  try {
    const st = await fs.stat(file);
    if (!st.isFile()) throw refuse(`${what} ${file} is not a file`, `point it at the key file`);
    if ((st.mode & 0o077) !== 0) throw refuse(`${file} can be read by other users (mode ${(st.mode & 0o777).toString(8)})`, `chmod 600 ${file}`);
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    if (e instanceof SwitchError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw refuse(`${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`, `make it readable by the switch's user`, e);
  }
}

/**
 * The single key of earlier versions (the legacy key, k1): configured, or generated for the embedded database;
 * a SwitchError naming why there is none. Logs once when it generates the key file. `generate: false` (a
 * report) never writes one.
 */
export async function resolvePanHashKey(
  cfg: Pick<SwitchConfig, 'database' | 'panHashKey'>,
  log: Pick<Logger, 'info'>,
  o: { generate?: boolean } = {},
): Promise<string> {
  if (cfg.panHashKey === PUBLISHED_DEV_PAN_HASH_KEY) {
    throw refuse('panHashKey is the published development key, which makes PAN hashes reversible', HOW);
  }
  if (cfg.panHashKey) return cfg.panHashKey;
  if (cfg.database.url) {
    throw refuse('no PAN hash key is configured, and the database is not the embedded one', `${HOW}; keep it with the database: its PAN hashes depend on it`);
  }
  const file = panHashKeyFile(cfg);
  const read = await readGenerated(file);
  if (read !== null) return read;
  if (o.generate === false) throw refuse(`no PAN hash key is configured, and none was generated yet (${file})`, HOW);
  const key = crypto.randomBytes(32).toString('base64url');
  await fs.mkdir(path.dirname(file), { recursive: true });
  try {
    await fs.writeFile(file, key + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    // another process of this checkout wrote it first: use that one
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return resolvePanHashKey(cfg, log, o);
    throw refuse(`${file} cannot be written (${(e as Error).message})`, `make ${path.dirname(file)} writable, or ${HOW}`, e);
  }
  log.info({ file }, `PAN hash key generated and kept in ${file} (mode 0600): keep it with the embedded database, its PAN hashes depend on it`);
  return key;
}

/** The generated key file's key, or null when there is none. */
async function readGenerated(file: string): Promise<string | null> {
  const text = await readSecretFile(file, 'the generated key file').then((t) => (t === null ? null : t.trim()));
  if (text === null) return null;
  if (text.length < 16 || text === PUBLISHED_DEV_PAN_HASH_KEY) {
    throw refuse(`${file} does not hold a usable key (16 characters or more, not the development key)`, `npm run reset to start afresh, or ${HOW}`);
  }
  return text;
}

/**
 * A key file (`panHashKeysFile`): "id:secret" lines (blank lines and # comments skipped) or a JSON array of
 * {id, secret}, the current key first; mode 0600. What is wrong is named by line or entry, never by content.
 */
export async function readPanHashKeysFile(file: string): Promise<PanKey[]> {
  const text = await readSecretFile(file, 'panHashKeysFile');
  if (text === null) throw refuse(`panHashKeysFile ${file} does not exist`, `create it (mode 0600) with one "id:secret" line per key, the current one first`);
  const fix = `one "id:secret" line per key, or a JSON array of {"id", "secret"}, the current one first`;
  const keys: PanKey[] = [];
  if (/^\s*[[{]/.test(text)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      // JSON.parse's message quotes the text, secrets and all: neither repeated nor kept as the cause
      throw refuse(`${file} is not valid JSON`, fix);
    }
    if (!Array.isArray(parsed)) throw refuse(`${file} must hold a JSON array of keys`, fix);
    parsed.forEach((k: unknown, i) => {
      const ok =
        k !== null &&
        typeof k === 'object' &&
        Object.keys(k).every((x) => x === 'id' || x === 'secret') &&
        typeof (k as PanKey).id === 'string' &&
        typeof (k as PanKey).secret === 'string';
      if (!ok) throw refuse(`${file} entry ${i + 1} must be {"id": "…", "secret": "…"} and nothing else`, fix);
      keys.push({ id: (k as PanKey).id, secret: (k as PanKey).secret });
    });
  } else {
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const at = line.indexOf(':');
      if (at < 0) throw refuse(`${file} line ${i + 1} is not "id:secret"`, fix);
      keys.push({ id: line.slice(0, at).trim(), secret: line.slice(at + 1).trim() });
    });
  }
  if (keys.length === 0) throw refuse(`${file} holds no key`, fix);
  checkKeys(keys, file);
  return keys;
}

/** Ids well formed and distinct, secrets long enough, distinct, and not the published one. Names ids, never secrets. */
function checkKeys(keys: readonly PanKey[], source: string): void {
  const ids = new Set<string>();
  const secrets = new Map<string, string>();
  keys.forEach((k, i) => {
    if (!KEY_ID_RE.test(k.id)) throw refuse(`key ${i + 1} in ${source} has an id that is not 1 to 16 letters, digits, _ or -`, HOW_LIST);
    if (ids.has(k.id)) throw refuse(`key id ${k.id} is given twice in ${source}`, 'give each key its own id');
    ids.add(k.id);
    const secret = k.secret.toString();
    if (secret === PUBLISHED_DEV_PAN_HASH_KEY) throw refuse(`key ${k.id} is the published development key, which makes PAN hashes reversible`, HOW_LIST);
    if (secret.length < 16) throw refuse(`key ${k.id} in ${source} is shorter than 16 characters`, HOW_LIST);
    const twin = secrets.get(secret);
    if (twin !== undefined)
      throw refuse(`keys ${twin} and ${k.id} in ${source} have the same secret`, 'a new key needs a new secret: `openssl rand -base64 32`');
    secrets.set(secret, k.id);
  });
}

/**
 * The set of PAN hash keys the switch hashes and compares with (see the module comment); a SwitchError naming
 * why there is none or what is wrong. Logs the ids (never a secret) when there is more than the legacy key.
 */
export async function resolvePanHashKeys(
  cfg: Pick<SwitchConfig, 'database' | 'panHashKey' | 'panHashKeys' | 'panHashKeysFile'>,
  log: Pick<Logger, 'info'>,
  o: { generate?: boolean } = {},
): Promise<PanKeyRing> {
  if (cfg.panHashKeysFile && cfg.panHashKeys.length > 0) {
    throw refuse('both panHashKeys (PAN_HASH_KEYS) and panHashKeysFile (PAN_HASH_KEYS_FILE) are set', 'keep one of them');
  }
  const source = cfg.panHashKeysFile ? cfg.panHashKeysFile : 'panHashKeys';
  const listed: PanKey[] = cfg.panHashKeysFile ? await readPanHashKeysFile(cfg.panHashKeysFile) : cfg.panHashKeys.map((k) => ({ id: k.id, secret: k.secret }));
  if (listed.length === 0) return PanKeyRing.single(await resolvePanHashKey(cfg, log, o));
  checkKeys(listed, source);
  // The single key of earlier versions hashed the rows that have no key id: it stays, as k1.
  let legacy: string | null = null;
  if (cfg.panHashKey) {
    if (cfg.panHashKey === PUBLISHED_DEV_PAN_HASH_KEY) throw refuse('panHashKey is the published development key, which makes PAN hashes reversible', HOW);
    legacy = cfg.panHashKey;
  } else if (!cfg.database.url) {
    legacy = await readGenerated(panHashKeyFile(cfg));
  }
  const keys = [...listed];
  if (legacy !== null) {
    const named = listed.find((k) => k.id === LEGACY_PAN_KEY_ID);
    if (named === undefined) keys.push({ id: LEGACY_PAN_KEY_ID, secret: legacy });
    else if (named.secret.toString() !== legacy) {
      throw refuse(
        `${source} names ${LEGACY_PAN_KEY_ID} with another secret than the single key (${cfg.panHashKey ? 'panHashKey' : panHashKeyFile(cfg)}), which hashed the rows without a key id`,
        `give ${LEGACY_PAN_KEY_ID} the single key's secret, or remove the single key`,
      );
    }
    checkKeys(keys, `${source} with the single key as ${LEGACY_PAN_KEY_ID}`);
  }
  const ring = new PanKeyRing(keys);
  log.info({ current: ring.currentId, keys: ring.ids }, `PAN hash keys: ${ring.currentId} hashes, ${ring.ids.join(', ')} compare`);
  return ring;
}

export type PanKeyTable = 'switch_intent' | 'ledger_plan';

/** Rows with a PAN hash per table and stored key id: `key` null for rows written before key ids (the legacy key). */
export interface PanKeyCount {
  table: PanKeyTable;
  key: string | null;
  rows: number;
}

/** How many rows each key id covers in each table that stores PAN hashes: one scan of each, off the hot path. */
export async function panKeyUsage(client: Pick<pg.PoolClient, 'query'>): Promise<PanKeyCount[]> {
  const [sw, lg] = await Promise.all([switchPanKeyRows(client), panKeyRows(client)]);
  return [...sw.map((r) => ({ table: 'switch_intent' as const, ...r })), ...lg.map((r) => ({ table: 'ledger_plan' as const, ...r }))];
}

/** A key id that rows still use but the set does not hold: how many rows, in which tables. */
export interface MissingPanKey {
  keyId: string;
  rows: number;
  tables: Partial<Record<PanKeyTable, number>>;
}

/** The key ids counted in `usage` that `ring` does not hold (a null id is the legacy key's). */
export function missingPanKeys(ring: Pick<PanKeyRing, 'has'>, usage: readonly PanKeyCount[]): MissingPanKey[] {
  const out = new Map<string, MissingPanKey>();
  for (const u of usage) {
    if (u.rows === 0 || ring.has(u.key)) continue;
    const id = storedKeyId(u.key);
    const m = out.get(id) ?? { keyId: id, rows: 0, tables: {} };
    m.rows += u.rows;
    m.tables[u.table] = (m.tables[u.table] ?? 0) + u.rows;
    out.set(id, m);
  }
  return [...out.values()].sort((a, b) => a.keyId.localeCompare(b.keyId));
}

/** How long the count at start may take before it is given up (the report still counts, however long). */
export const START_COUNT_TIMEOUT_MS = 60_000;

/**
 * At start, in the background: the rows hashed with keys no longer in the set, each such key warned about with
 * its count (SW_ERR_PAN_HASH_KEY_MISSING). Look-ups against those rows fail safe (src/switch/flows/context.ts
 * sameRequest). A count that fails or takes longer than START_COUNT_TIMEOUT_MS is warned about, never fatal.
 */
export async function warnMissingPanKeys(pool: pg.Pool, ring: PanKeyRing, log: Pick<Logger, 'warn'>): Promise<MissingPanKey[]> {
  try {
    const usage = await inTransaction(pool, async (client) => {
      await client.query(`set local statement_timeout = ${START_COUNT_TIMEOUT_MS}`);
      return panKeyUsage(client);
    });
    const missing = missingPanKeys(ring, usage);
    for (const m of missing) {
      const tables = Object.entries(m.tables)
        .map(([t, n]) => `${t} ${n}`)
        .join(', ');
      log.warn(
        { code: 'SW_ERR_PAN_HASH_KEY_MISSING', keyId: m.keyId, rows: m.rows, tables: m.tables },
        renderError('SW_ERR_PAN_HASH_KEY_MISSING', { keyId: m.keyId, rows: m.rows, tables }),
      );
    }
    return missing;
  } catch (e) {
    log.warn({ err: errorSummary(e) }, 'could not count the rows per PAN hash key at start: npm run pan-keys -- report counts them');
    return [];
  }
}
