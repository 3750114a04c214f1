/**
 * `npm run ledger:check` and `npm run ledger:recon`: the command-line convention of src/cli/args.ts (--help,
 * unknown options) in front of the ledger's own commands (src/ledger/cli.ts, docs/ledger.md).
 */
import { main } from '../ledger/cli.js';
import { exitWith, parseCli, usageError } from './args.js';

const USAGE = `usage: npm run ledger:check
       npm run ledger:recon [-- --from YYYY-MM-DD] [--to YYYY-MM-DD]

check   audits the ledger: exit 0 when every invariant holds, 1 naming each violation
recon   reconciliation CSV per day, acquirer, terminal, merchant and currency, on stdout
        --from, --to   the period (a date or an ISO timestamp; default everything)

Database: DATABASE_URL, else the embedded PostgreSQL of npm start (data/pg). Ledger migrations run first.
options: -h, --help   this text
exit codes: 0 ok, 1 violations found, 2 usage or the database cannot be used
`;

const spec = { name: 'ledger', usage: USAGE, allowPositionals: true, options: { from: { type: 'string' }, to: { type: 'string' } } } as const;
const argv = process.argv.slice(2);
const { values, positionals } = parseCli(spec, argv);
const [cmd, ...extra] = positionals;
if (cmd !== 'check' && cmd !== 'recon') usageError(spec, cmd === undefined ? 'a command is needed: check or recon' : `unknown command '${cmd}'`);
if (extra.length) usageError(spec, `unexpected argument '${extra[0]!}'`);
if (cmd === 'check' && (values.from !== undefined || values.to !== undefined)) usageError(spec, '--from and --to belong to recon');
exitWith(main([cmd, ...(values.from !== undefined ? ['--from', values.from] : []), ...(values.to !== undefined ? ['--to', values.to] : [])]), 'ledger', 2);
