/**
 * npm run archive -- [--keep-days 35 | --before YYYY-MM-DD] [--dir data/archive] [--dry-run]
 *
 * Retention (docs/retention.md): every day partition of the switch and the ledger older than the kept days
 * is written to gzip'd NDJSON files under --dir and dropped, a day at a time, once it is settled (nothing in
 * flight, no hold, no reversal owed); a day that is not settled is kept and named. Exit 0 when every day
 * asked for was archived or had nothing to archive, 1 when some were kept, 2 on bad usage.
 * Database: DATABASE_URL, else the embedded server (data under ./data/pg).
 */
import path from 'node:path';
import { createPool, redactUrl, resolveDatabaseUrl } from '../store/postgres.js';
import { migrate } from '../store/migrate.js';
import { LEDGER_MIGRATIONS_DIR } from '../ledger/ledger.js';
import { archiveLedgerDay, ledgerDaysBefore } from '../ledger/archive.js';
import { SWITCH_MIGRATIONS_DIR } from '../switch/store/index.js';
import { archiveSwitchDay, switchDaysBefore } from '../switch/store/archive.js';
import { exitWith, parseCli, usageError } from './args.js';

const USAGE = `usage: npm run archive -- [--keep-days N | --before YYYY-MM-DD] [--dir DIR] [--dry-run]
  --keep-days N     keep the last N days (default 35; more than the authorization hold age and every capture or reversal window)
  --before DAY      archive the days before DAY instead
  --dir DIR         where the archive files go (default data/archive)
  --dry-run         say what would be archived; change nothing
`;

const spec = {
  name: 'archive',
  usage: USAGE,
  options: { 'keep-days': { type: 'string' }, before: { type: 'string' }, dir: { type: 'string' }, 'dry-run': { type: 'boolean' } },
} as const;

/** Each module's day partitions: which days it has before a day, and how one is archived. */
const MODULES: ReadonlyArray<{ name: string; daysBefore: typeof switchDaysBefore; archiveDay: typeof archiveSwitchDay }> = [
  { name: 'switch', daysBefore: switchDaysBefore, archiveDay: archiveSwitchDay },
  { name: 'ledger', daysBefore: ledgerDaysBefore, archiveDay: archiveLedgerDay },
];

async function main(argv: string[]): Promise<number> {
  const { values } = parseCli(spec, argv);
  const keep = values['keep-days'] === undefined ? 35 : Number(values['keep-days']);
  if (!Number.isInteger(keep) || keep < 1 || (values.before !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(values.before))) {
    usageError(spec, '--keep-days takes a whole number of days ≥ 1, --before a YYYY-MM-DD day');
  }
  const dryRun = values['dry-run'] === true;
  const before = values.before ?? new Date(Date.now() - keep * 86_400_000).toISOString().slice(0, 10);
  const dir = path.resolve(values.dir ?? path.join('data', 'archive'));
  const db = await resolveDatabaseUrl();
  const pool = createPool(db.url, { max: 2, applicationName: 'archive' });
  try {
    await migrate(pool, { module: 'ledger', dir: LEDGER_MIGRATIONS_DIR });
    await migrate(pool, { module: 'switch', dir: SWITCH_MIGRATIONS_DIR });
    process.stdout.write(`archiving days before ${before} (${db.source === 'env' ? redactUrl(db.url) : 'embedded'}) to ${dir}${dryRun ? ' (dry run)' : ''}\n`);
    let kept = 0;
    for (const m of MODULES) {
      for (const day of await m.daysBefore(pool, before)) {
        const r = await m.archiveDay(pool, day, dir, { dryRun });
        if (!r.archived && !dryRun) kept++;
        process.stdout.write(`  ${m.name} ${day}: ${r.archived ? `archived ${JSON.stringify(r.rows)}` : `kept (${r.reason})`}\n`);
      }
    }
    return kept === 0 ? 0 : 1;
  } finally {
    await pool.end();
    await db.stop();
  }
}

exitWith(main(process.argv.slice(2)), 'archive', 1);
