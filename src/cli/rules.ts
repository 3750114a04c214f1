/**
 * `npm run rules -- <command>`: the risk team's tools for rule sets.
 *
 *   validate  [--dir rules]                         check every file, schema and cross-reference
 *   evaluate  [--dir rules | --version N] [--file auth.json]   authorization JSON (object or array; stdin
 *             by default) → decision + explanation
 *   backtest  --input past.json [--dir rules | --version N] [--limit N] [--seed N] [--min-samples N]
 *             past decisions (JSON array or JSON lines of {context, routedTo, outcome, riskLevel?}) re-decided
 *             under the candidate: changed routes, transitions, expected approval-rate effect
 *   publish   [--dir rules] --author NAME [--comment TEXT]   store as a new version (DATABASE_URL)
 *   activate  VERSION --actor NAME [--comment TEXT]          make a version active (DATABASE_URL)
 *   rollback  --actor NAME [--comment TEXT]                  re-activate the previous version
 *   versions                                                 list versions and the active one
 *
 * Exit codes: 0 done, 1 invalid input or rules, 2 usage.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isSwitchError, SwitchError } from '../errors.js';
import { loadRuleSet, RuleSetInvalidError, DEFAULT_RULES_DIR } from '../routing/rules-loader.js';
import { compileRuleSet, type CompiledRules } from '../routing/compiler.js';
import { RoutingEngine } from '../routing/engine.js';
import { backtest, contextFromJson, pastDecisionFromJson, type PastDecision } from '../routing/backtest.js';
import { RuleVersionStore, migrateRouting } from '../routing/versions.js';
import { createPool } from '../store/postgres.js';

const USAGE =
  'rules validate [--dir D] | evaluate [--dir D | --version N] [--file F] | backtest --input F [--dir D | --version N] [--limit N] [--seed N] [--min-samples N] | publish [--dir D] --author A [--comment C] | activate N --actor A [--comment C] | rollback --actor A [--comment C] | versions';

/** `npm run rules -- --help`: every command (docs/routing.md, "The rules CLI"). */
export const RULES_HELP = `usage: npm run rules -- <command> [options]

commands:
  validate  [--dir rules]                                  check every file, schema and cross-reference
  evaluate  [--dir rules | --version N] [--file auth.json] authorization JSON (stdin by default) → decision
  backtest  --input past.json [--dir rules | --version N] [--limit N] [--seed N] [--min-samples N]
                                                           past decisions re-decided under the candidate rules
  publish   [--dir rules] --author NAME [--comment TEXT]   store the files as a new version (DATABASE_URL)
  activate  VERSION --actor NAME [--comment TEXT]          make a version active (DATABASE_URL)
  rollback  --actor NAME [--comment TEXT]                  re-activate the previous version (DATABASE_URL)
  versions                                                 list versions and the active one (DATABASE_URL)
  -h, --help                                               this text
exit codes: 0 done, 1 invalid input or rules, 2 usage
`;

const json = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x), 2);

export interface CliIo {
  out: (s: string) => void;
  err: (s: string) => void;
  stdin: () => string;
  env: NodeJS.ProcessEnv;
}

function usage(): never {
  throw new SwitchError('SW_ERR_CLI_USAGE', { usage: USAGE });
}

async function withStore<T>(io: CliIo, fn: (s: RuleVersionStore) => Promise<T>): Promise<T> {
  const url = io.env.DATABASE_URL;
  if (!url) throw new SwitchError('SW_ERR_CLI_USAGE', { usage: 'set DATABASE_URL for versions in Postgres' });
  const pool = createPool(url, { max: 2, applicationName: 'rules-cli' });
  try {
    await migrateRouting(pool);
    return await fn(new RuleVersionStore(pool));
  } finally {
    await pool.end();
  }
}

async function candidate(io: CliIo, v: { dir?: string | undefined; version?: string | undefined }): Promise<CompiledRules> {
  if (v.version !== undefined) {
    const n = Number(v.version);
    if (!Number.isSafeInteger(n) || n < 1) usage();
    return compileRuleSet(await withStore(io, (s) => s.get(n)));
  }
  return compileRuleSet(loadRuleSet(v.dir ?? DEFAULT_RULES_DIR));
}

function parseJsonInput(text: string, what: string): unknown[] {
  const trimmed = text.trim();
  if (trimmed === '') throw new SwitchError('SW_ERR_ROUTING_BAD_CONTEXT', { path: '/', reason: `${what} is empty` });
  try {
    const v = JSON.parse(trimmed) as unknown;
    return Array.isArray(v) ? v : [v];
  } catch {
    // JSON lines
    return trimmed
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l, i) => {
        try {
          return JSON.parse(l) as unknown;
        } catch {
          throw new SwitchError('SW_ERR_ROUTING_BAD_CONTEXT', { path: `line ${i + 1}`, reason: 'not valid JSON' });
        }
      });
  }
}

export async function runRulesCli(argv: string[], io: CliIo): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === 'help' || argv.includes('--help') || argv.includes('-h')) {
    if (cmd === undefined) usage();
    io.out(RULES_HELP.trimEnd());
    return 0;
  }
  const { values, positionals } = parseArgs({
    // an option where the command should be: parsed too, so an unknown one is named
    args: cmd.startsWith('-') ? argv : rest,
    allowPositionals: true,
    strict: true,
    options: {
      dir: { type: 'string' },
      version: { type: 'string' },
      file: { type: 'string' },
      input: { type: 'string' },
      limit: { type: 'string' },
      seed: { type: 'string' },
      'min-samples': { type: 'string' },
      author: { type: 'string' },
      actor: { type: 'string' },
      comment: { type: 'string' },
    },
  });
  if (cmd.startsWith('-')) usage();
  switch (cmd) {
    case 'validate': {
      try {
        const rs = loadRuleSet(values.dir ?? DEFAULT_RULES_DIR);
        io.out(json({ valid: true, hash: rs.hash, rules: rs.files.routing.rules.length, terminals: rs.files.terminals.terminals.length }));
        return 0;
      } catch (e) {
        if (e instanceof RuleSetInvalidError) {
          for (const p of e.problems) io.err(`${p.file}: ${p.rule} at ${p.path || '/'}: ${p.reason}${p.ref ? ` '${p.ref}'` : ''}`);
          io.out(json({ valid: false, problems: e.problems }));
          return 1;
        }
        throw e;
      }
    }
    case 'evaluate': {
      const rules = await candidate(io, values);
      const text = values.file && values.file !== '-' ? readFileSync(values.file, 'utf8') : io.stdin();
      const inputs = parseJsonInput(text, 'authorization input');
      const engine = new RoutingEngine({ rules });
      const out = [];
      for (let i = 0; i < inputs.length; i++) out.push(await engine.decide(contextFromJson(inputs[i], inputs.length > 1 ? `/${i}` : '')));
      io.out(json(out.length === 1 ? out[0] : out));
      return 0;
    }
    case 'backtest': {
      if (!values.input) usage();
      const rules = await candidate(io, values);
      let past: PastDecision[] = parseJsonInput(readFileSync(values.input, 'utf8'), 'backtest input').map((v, i) => pastDecisionFromJson(v, `/${i}`));
      if (values.limit !== undefined) {
        const n = Number(values.limit);
        if (!Number.isSafeInteger(n) || n < 1) usage();
        past = past.slice(-n);
      }
      const opts: { seed?: number; minSamples?: number } = {};
      if (values.seed !== undefined) opts.seed = Number(values.seed);
      if (values['min-samples'] !== undefined) opts.minSamples = Number(values['min-samples']);
      const r = await backtest(rules, past, opts);
      io.err(`re-decided ${r.total} authorizations under ${r.rulesVersion === null ? 'files' : `version ${r.rulesVersion}`} (${r.rulesHash.slice(0, 12)})`);
      io.err(`routes changed: ${r.changed} (${r.total ? ((100 * r.changed) / r.total).toFixed(1) : '0.0'}%)`);
      for (const tr of r.transitions.slice(0, 20)) io.err(`  ${tr.from.padEnd(16)} → ${tr.to.padEnd(16)} ${tr.count}`);
      io.err(
        `approval rate: baseline ${(100 * r.baselineApprovalRate).toFixed(2)}%, expected ${(100 * r.expectedApprovalRate).toFixed(2)}% (${r.approvalRateDelta >= 0 ? '+' : ''}${(100 * r.approvalRateDelta).toFixed(2)} pts)`,
      );
      io.out(JSON.stringify(r));
      return 0;
    }
    case 'publish': {
      if (!values.author) usage();
      const rs = loadRuleSet(values.dir ?? DEFAULT_RULES_DIR);
      const v = await withStore(io, (s) => s.create(rs, { author: values.author!, comment: values.comment ?? '' }));
      io.out(json(v));
      return 0;
    }
    case 'activate': {
      const n = Number(positionals[0]);
      if (!values.actor || !Number.isSafeInteger(n) || n < 1) usage();
      const a = await withStore(io, (s) => s.activate(n, { actor: values.actor!, comment: values.comment ?? '' }));
      io.out(json(a));
      return 0;
    }
    case 'rollback': {
      if (!values.actor) usage();
      const a = await withStore(io, (s) => s.rollback({ actor: values.actor!, comment: values.comment ?? '' }));
      io.out(json(a));
      return 0;
    }
    case 'versions': {
      const r = await withStore(io, async (s) => ({ active: await s.active(), versions: await s.list() }));
      io.out(json(r));
      return 0;
    }
    default:
      return usage();
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  const io: CliIo = {
    out: (s) => process.stdout.write(`${s}\n`),
    err: (s) => process.stderr.write(`${s}\n`),
    stdin: () => readFileSync(0, 'utf8'),
    env: process.env,
  };
  runRulesCli(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      if (isSwitchError(e)) {
        io.err(`${e.code}: ${e.message}`);
        if (e.code === 'SW_ERR_CLI_USAGE') io.err(RULES_HELP.trimEnd());
        process.exitCode = e.code === 'SW_ERR_CLI_USAGE' ? 2 : 1;
      } else if (e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
        io.err(`rules: ${e.message}`);
        io.err(RULES_HELP.trimEnd());
        process.exitCode = 2;
      } else {
        io.err(`error: ${e instanceof Error ? e.message : String(e)}`);
        process.exitCode = 1;
      }
    },
  );
}
