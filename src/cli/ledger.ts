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

const USAGE = `usage: npm run ledger:check
       npm run ledger:recon [-- --from YYYY-MM-DD] [--to YYYY-MM-DD]

check   audits the ledger: exit 0 when every invariant holds, 1 naming each violation
recon   the books as CSV on stdout, per settlement business day, acquirer, terminal, merchant and currency:
        authorized, captured, released, refunded, reversed, their fees, and the net (docs/ledger.md)
        --from, --to   the first and last business day (YYYY-MM-DD; default everything)
        --rules DIR    the rules whose acquirers.yaml gives the cut-overs (default: the active rules version
                       in the database, else the shipped rules/)

Database: DATABASE_URL, else the embedded PostgreSQL of npm start (data/pg). Ledger migrations run first.
options: -h, --help   this text
exit codes: 0 ok, 1 violations found, 2 usage or the database cannot be used
`;

const spec = {
  name: 'ledger',
  usage: USAGE,
  allowPositionals: true,
  options: { from: { type: 'string' }, to: { type: 'string' }, rules: { type: 'string' } },
} as const;
const argv = process.argv.slice(2);
const { values, positionals } = parseCli(spec, argv);
const [cmd, ...extra] = positionals;
if (cmd !== 'check' && cmd !== 'recon') usageError(spec, cmd === undefined ? 'a command is needed: check or recon' : `unknown command '${cmd}'`);
if (extra.length) usageError(spec, `unexpected argument '${extra[0]!}'`);
if (cmd === 'check' && (values.from !== undefined || values.to !== undefined || values.rules !== undefined))
  usageError(spec, '--from, --to and --rules belong to recon');

/** The rules that say each acquirer's cut-over: --rules, else the version the switch runs, else the shipped files. */
async function ruleSet(pool: pg.Pool): Promise<RuleSet> {
  if (values.rules !== undefined) return loadRuleSet(values.rules);
  const active = await new RuleVersionStore(pool).activeRuleSet().catch(() => null);
  return active ?? loadRuleSet();
}

exitWith(
  main([cmd, ...(values.from !== undefined ? ['--from', values.from] : []), ...(values.to !== undefined ? ['--to', values.to] : [])], {
    cutovers: async (pool) => cutoversOf((await ruleSet(pool)).files.acquirers.acquirers),
  }),
  'ledger',
  2,
);
