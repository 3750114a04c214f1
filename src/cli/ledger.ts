/**
 * `npm run ledger:check` and `npm run ledger:recon`: the command-line convention of src/cli/args.ts (--help,
 * unknown options) in front of the ledger's own commands (src/ledger/cli.ts, docs/ledger.md).
 */
import type pg from 'pg';
import { main } from '../ledger/cli.js';
import { cutoversOf } from '../ledger/recon.js';
import { loadRuleSet } from '../routing/rules-loader.js';
import { RuleVersionStore } from '../routing/versions.js';
import type { RuleSet } from '../routing/types.js';
import { exitWith, parseCli, usageError } from './args.js';
import { settlementRecon } from './settlement-recon.js';
import { resolveDatabaseUrl, createPool } from '../store/postgres.js';
import { migrate } from '../store/migrate.js';
import { LEDGER_MIGRATIONS_DIR } from '../ledger/ledger.js';

const USAGE = `usage: npm run ledger:check
       npm run ledger:recon [-- --from YYYY-MM-DD] [--to YYYY-MM-DD]
       npm run ledger:recon -- --settlement FILE --acquirer ID --day YYYY-MM-DD

check   audits the ledger: exit 0 when every invariant holds, 1 naming each violation
recon   the books as CSV on stdout, per settlement business day, acquirer, terminal, merchant and currency:
        authorized, captured, released, refunded, reversed, their fees, and the net (docs/ledger.md)
        --from, --to   the first and last business day (YYYY-MM-DD; default everything)
        --rules DIR    the rules whose acquirers.yaml gives the cut-overs (default: the active rules version
                       in the database, else the shipped rules/)
        --settlement FILE --acquirer ID --day D
                       match the books of that acquirer and business day against its settlement file (the
                       layout in acquirers.yaml settlement.file): a table of the breaks (missing on either side,
                       amount, currency or fee differences, late captures), then one JSON line; the run is
                       recorded for the console; exit 1 when there are breaks

Database: DATABASE_URL, else the embedded PostgreSQL of npm start (data/pg). Ledger migrations run first.
options: -h, --help   this text
exit codes: 0 ok, 1 violations or breaks found, 2 usage, a file that cannot be read, or the database cannot be used
`;

const spec = {
  name: 'ledger',
  usage: USAGE,
  allowPositionals: true,
  options: {
    from: { type: 'string' },
    to: { type: 'string' },
    rules: { type: 'string' },
    settlement: { type: 'string' },
    acquirer: { type: 'string' },
    day: { type: 'string' },
  },
} as const;
const argv = process.argv.slice(2);
const { values, positionals } = parseCli(spec, argv);
const [cmd, ...extra] = positionals;
if (cmd !== 'check' && cmd !== 'recon') usageError(spec, cmd === undefined ? 'a command is needed: check or recon' : `unknown command '${cmd}'`);
if (extra.length) usageError(spec, `unexpected argument '${extra[0]!}'`);
if (cmd === 'check' && (values.from !== undefined || values.to !== undefined || values.rules !== undefined || values.settlement !== undefined))
  usageError(spec, '--from, --to, --rules and --settlement belong to recon');
const settling = values.settlement !== undefined || values.acquirer !== undefined || values.day !== undefined;
if (settling) {
  if (values.settlement === undefined || values.acquirer === undefined || values.day === undefined)
    usageError(spec, '--settlement, --acquirer and --day go together');
  if (!/^\d{4}-\d{2}-\d{2}$/.test(values.day) || Number.isNaN(Date.parse(`${values.day}T00:00:00Z`))) usageError(spec, '--day: not a day (YYYY-MM-DD)');
  if (values.from !== undefined || values.to !== undefined) usageError(spec, '--from and --to do not go with --settlement');
}

/** The rules that say each acquirer's cut-over: --rules, else the version the switch runs, else the shipped files. */
async function ruleSet(pool: pg.Pool): Promise<RuleSet> {
  if (values.rules !== undefined) return loadRuleSet(values.rules);
  const active = await new RuleVersionStore(pool).activeRuleSet().catch(() => null);
  return active ?? loadRuleSet();
}

async function settle(file: string, acquirer: string, day: string): Promise<number> {
  const db = await resolveDatabaseUrl();
  const pool = createPool(db.url, { max: 2, applicationName: 'ledger-settlement' });
  try {
    await migrate(pool, { module: 'ledger', dir: LEDGER_MIGRATIONS_DIR });
    return await settlementRecon(pool, { file, acquirer, day }, await ruleSet(pool), (s) => process.stdout.write(s));
  } finally {
    await pool.end();
    await db.stop();
  }
}

if (settling) exitWith(settle(values.settlement!, values.acquirer!, values.day!), 'ledger', 2);
else
  exitWith(
    main([cmd, ...(values.from !== undefined ? ['--from', values.from] : []), ...(values.to !== undefined ? ['--to', values.to] : [])], {
      cutovers: async (pool) => cutoversOf((await ruleSet(pool)).files.acquirers.acquirers),
    }),
    'ledger',
    2,
  );
