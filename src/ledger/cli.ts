/**
 * Ledger commands:
 *   ledger:check                       audit the ledger; exit 0 when every invariant holds, 1 naming each violation
 *   ledger:recon [--from D] [--to D]   the books per settlement business day, acquirer, terminal, merchant,
 *                                      currency as CSV (stdout; docs/ledger.md, "Reconciliation")
 * Database: DATABASE_URL, else the embedded server (data under ./data/pg). Ledger migrations run first.
 */
import { resolveDatabaseUrl, createPool, redactUrl } from '../store/postgres.js';
import { migrate } from '../store/migrate.js';
import { LEDGER_MIGRATIONS_DIR } from './ledger.js';
import { checkLedger } from './audit.js';
import type { CutoverSpec } from './business-day.js';
import { reconcile, reconToCsv } from './recon.js';

function arg(name: string, argv: string[]): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

function parseDay(s: string | undefined, name: string): string | undefined {
  if (s === undefined) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s) || Number.isNaN(Date.parse(`${s}T00:00:00Z`))) throw new Error(`--${name}: not a day (use YYYY-MM-DD)`);
  return s;
}

export interface LedgerCliDeps {
  /** The acquirers' cut-overs (acquirers.yaml `settlement`), read once the database is open; default none (UTC days). */
  cutovers?: (pool: import('pg').Pool) => Promise<Record<string, CutoverSpec>>;
}

export async function main(argv: string[], deps: LedgerCliDeps = {}): Promise<number> {
  const cmd = argv[0];
  if (cmd !== 'check' && cmd !== 'recon') {
    process.stderr.write('usage: ledger check | ledger recon [--from YYYY-MM-DD] [--to YYYY-MM-DD]\n');
    return 2;
  }
  const db = await resolveDatabaseUrl();
  const pool = createPool(db.url, { max: 2, applicationName: `ledger-${cmd}` });
  try {
    await migrate(pool, { module: 'ledger', dir: LEDGER_MIGRATIONS_DIR });
    if (cmd === 'check') {
      const r = await checkLedger(pool);
      const where = db.source === 'env' ? redactUrl(db.url) : 'embedded';
      if (r.ok) {
        process.stdout.write(
          `ledger check ok (${where}): ${r.stats.accounts} accounts, ${r.stats.plans} plans, ${r.stats.postings} postings, ${r.stats.currencies} currencies\n`,
        );
        return 0;
      }
      process.stdout.write(`ledger check FAILED (${where}): ${r.violations.length} violation(s)\n`);
      for (const v of r.violations) process.stdout.write(`  [${v.rule}] ${v.detail}\n`);
      return 1;
    }
    const from = parseDay(arg('from', argv), 'from');
    const to = parseDay(arg('to', argv), 'to');
    const cutovers = deps.cutovers ? await deps.cutovers(pool) : {};
    const rows = await reconcile(pool, { ...(from ? { from } : {}), ...(to ? { to } : {}), cutovers });
    process.stdout.write(reconToCsv(rows));
    return 0;
  } finally {
    await pool.end();
    await db.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`ledger: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 2;
    },
  );
}
