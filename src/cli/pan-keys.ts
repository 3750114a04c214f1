/**
 * npm run pan-keys -- report [--config file.json]
 *
 * PAN hash key rotation (docs/security.md, "PAN hash keys"; docs/switch.md, "PAN hash key"): how many stored rows
 * each key id still covers in each table that keeps PAN hashes, as a table and a last line of JSON, with which
 * of those ids the configured key set holds. An old key may leave the set once its count is zero everywhere.
 * Key secrets are never printed, only ids. Database and keys as `npm start` has them: the config file
 * (SWITCH_CONFIG or --config), then DATABASE_URL, PAN_HASH_KEYS, PAN_HASH_KEYS_FILE, PAN_HASH_KEY.
 */
import path from 'node:path';
import { LEDGER_MIGRATIONS_DIR, LEGACY_PAN_KEY_ID, type PanKeyRing } from '../ledger/index.js';
import { errorSummary, isSwitchError } from '../errors.js';
import { createPool, redactUrl, resolveDatabaseUrl } from '../store/postgres.js';
import { migrate } from '../store/migrate.js';
import { inTransaction } from '../store/tx.js';
import { loadConfig } from '../switch/config.js';
import { missingPanKeys, panKeyUsage, resolvePanHashKeys, type PanKeyCount, type PanKeyTable } from '../switch/pan-key.js';
import { SWITCH_MIGRATIONS_DIR } from '../switch/store/index.js';
import { exitWith, parseCli, usageError } from './args.js';

const USAGE = `usage: npm run pan-keys -- report [--config FILE]

report   how many stored rows each PAN hash key id still covers, per table (switch_intent, ledger_plan), and
         whether the configured key set holds that id; a table, then a last line of JSON. Rows written before
         key ids have none stored: they count under ${LEGACY_PAN_KEY_ID}, the legacy key ("without id" says how many).
         Remove an old key from the set once its rows are 0 everywhere (docs/security.md, "PAN hash keys").

options:
  --config FILE   the switch's JSON config (also SWITCH_CONFIG): database and keys as npm start has them
                  (then DATABASE_URL, PAN_HASH_KEYS, PAN_HASH_KEYS_FILE, PAN_HASH_KEY; else the embedded database)
  -h, --help      this text
exit codes: 0 every counted row's key is in the set, 1 rows use a key id the set does not hold,
            2 usage, or the database cannot be used
`;

const spec = { name: 'pan-keys', usage: USAGE, allowPositionals: true, options: { config: { type: 'string' } } } as const;

const TABLES: readonly PanKeyTable[] = ['switch_intent', 'ledger_plan'];

interface PanKeyReport {
  /** The current key's id and the ids of the set; null when the set could not be resolved (then `keysError` says why). */
  current: string | null;
  keys: readonly string[] | null;
  keysError?: string;
  /** Rows per table and key id (a row without a stored id counts under the legacy id). */
  rows: Record<PanKeyTable, Record<string, number>>;
  /** Of those, rows written before key ids, per table. */
  withoutId: Record<PanKeyTable, number>;
  total: Record<string, number>;
  /** Key ids rows still use that the set does not hold, with their row counts (empty when the set is unknown). */
  missing: Record<string, number>;
}

/** The report from the counts and the key set (pure: the table and the JSON are made from it). */
function buildReport(usage: readonly PanKeyCount[], ring: PanKeyRing | null, keysError?: string): PanKeyReport {
  const rows = Object.fromEntries(TABLES.map((t) => [t, {} as Record<string, number>])) as Record<PanKeyTable, Record<string, number>>;
  const withoutId = Object.fromEntries(TABLES.map((t) => [t, 0])) as Record<PanKeyTable, number>;
  const total: Record<string, number> = {};
  for (const u of usage) {
    const id = u.key ?? LEGACY_PAN_KEY_ID;
    rows[u.table][id] = (rows[u.table][id] ?? 0) + u.rows;
    if (u.key === null) withoutId[u.table] += u.rows;
    total[id] = (total[id] ?? 0) + u.rows;
  }
  const missing = ring ? Object.fromEntries(missingPanKeys(ring, usage).map((m) => [m.keyId, m.rows])) : {};
  return {
    current: ring?.currentId ?? null,
    keys: ring?.ids ?? null,
    ...(keysError !== undefined ? { keysError } : {}),
    rows,
    withoutId,
    total,
    missing,
  };
}

/** The table a person reads, then the JSON line. */
function renderReport(r: PanKeyReport): string {
  const ids = [...new Set([...(r.keys ?? []), ...Object.keys(r.total)])];
  const status = (id: string): string => {
    if (!r.keys) return '? (key set unknown)';
    if (id === r.current) return 'current';
    return r.keys.includes(id) ? 'kept (compares)' : 'NOT IN THE SET';
  };
  const lines: string[] = [];
  lines.push(
    r.keys
      ? `PAN hash keys: ${r.current} hashes; in the set: ${r.keys.join(', ')}`
      : `PAN hash keys: the key set could not be read (${r.keysError ?? 'unknown'})`,
  );
  const head = ['key id', 'in the set', ...TABLES, 'total', 'without id'];
  const body = ids.map((id) => [
    id,
    status(id),
    ...TABLES.map((t) => String(r.rows[t][id] ?? 0)),
    String(r.total[id] ?? 0),
    id === LEGACY_PAN_KEY_ID ? String(TABLES.reduce((n, t) => n + r.withoutId[t], 0)) : '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  lines.push(fmt(head), ...body.map(fmt));
  for (const [id, n] of Object.entries(r.missing)) {
    lines.push(`key ${id} is not in the set but ${n} rows use it: a duplicate of one is answered 94, a blocklist entry made from one matches no card`);
  }
  lines.push(JSON.stringify(r));
  return lines.join('\n') + '\n';
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseCli(spec, argv);
  const [cmd, ...extra] = positionals;
  if (cmd !== 'report') usageError(spec, cmd === undefined ? 'a command is needed: report' : `unknown command '${cmd}'`);
  if (extra.length) usageError(spec, `unexpected argument '${extra[0]!}'`);
  const cfg = loadConfig(values.config ? { file: values.config } : {});
  // the keys as the switch would have them, but never a key generated by a report
  let ring: PanKeyRing | null = null;
  let keysError: string | undefined;
  try {
    ring = await resolvePanHashKeys(cfg, { info: () => undefined }, { generate: false });
  } catch (e) {
    if (!isSwitchError(e, 'SW_ERR_PAN_HASH_KEY')) throw e;
    keysError = errorSummary(e).message;
  }
  const db = await resolveDatabaseUrl({ env: cfg.database.url ? { DATABASE_URL: cfg.database.url } : {}, dataDir: path.resolve(cfg.database.dataDir) });
  const pool = createPool(db.url, { max: 2, applicationName: 'pan-keys' });
  try {
    await migrate(pool, { module: 'ledger', dir: LEDGER_MIGRATIONS_DIR });
    await migrate(pool, { module: 'switch', dir: SWITCH_MIGRATIONS_DIR });
    const usage = await inTransaction(pool, (client) => panKeyUsage(client));
    const report = buildReport(usage, ring, keysError);
    process.stdout.write(`database: ${db.source === 'env' ? redactUrl(db.url) : 'embedded'}\n${renderReport(report)}`);
    return Object.keys(report.missing).length > 0 ? 1 : 0;
  } finally {
    await pool.end();
    await db.stop();
  }
}

exitWith(main(process.argv.slice(2)), 'pan-keys', 2);
