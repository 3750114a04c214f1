/**
 * Loading and validating rule sets: rules/*.yaml → RuleSet (plain data + content hash).
 *
 * Every file is checked against its JSON Schema in rules/schema/ (ajv, unknown keys rejected), then the
 * cross-file references are checked (rule → terminal, terminal → acquirer, rule → merchant, …). A problem
 * names the file, the rule (or entry) and the JSON pointer of the mistake. An invalid set never loads.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { SwitchError } from '../errors.js';
import { feeProblems } from '../ledger/fees.js';
import { RULE_FILE_NAMES, type RuleFileName, type RuleFiles, type RuleSet } from './types.js';

export interface RuleProblem {
  file: string;
  /** The entry the mistake is in, e.g. "rule 'eur'", "terminal 'a-eur-1'", or "(file)". */
  rule: string;
  /** JSON pointer into the file, e.g. "/rules/3/then/terminals/0/weight". */
  path: string;
  reason: string;
  kind: 'schema' | 'reference';
  /** For reference problems: what kind of thing is unknown and its name. */
  refKind?: string;
  ref?: string;
}

/** Thrown for an invalid rule set; `problems` lists every mistake found, the message names the first. */
export class RuleSetInvalidError extends SwitchError {
  readonly problems: RuleProblem[];
  constructor(problems: RuleProblem[]) {
    const p = problems[0]!;
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    if (p.kind === 'reference') {
      super('SW_ERR_RULES_REFERENCE', {
        file: p.file,
        rule: p.rule,
        kind: p.refKind ?? 'entry',
        ref: `'${p.ref ?? ''}'${more}`,
        path: p.path,
      });
    } else {
      super('SW_ERR_RULES_INVALID', { file: p.file, rule: p.rule, path: p.path || '/', reason: p.reason + more });
    }
    this.problems = problems;
  }
}

const here = dirname(fileURLToPath(import.meta.url));
/** rules/schema relative to this module (src/routing → ../../rules/schema). */
export const DEFAULT_SCHEMA_DIR = join(here, '..', '..', 'rules', 'schema');
export const DEFAULT_RULES_DIR = join(here, '..', '..', 'rules');

let validators: Map<RuleFileName, ValidateFunction> | undefined;

function getValidators(): Map<RuleFileName, ValidateFunction> {
  if (validators) return validators;
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
  const m = new Map<RuleFileName, ValidateFunction>();
  for (const name of RULE_FILE_NAMES) {
    const schema = JSON.parse(readFileSync(join(DEFAULT_SCHEMA_DIR, `${name}.schema.json`), 'utf8')) as object;
    m.set(name, ajv.compile(schema));
  }
  validators = m;
  return m;
}

const SINGULAR: Record<string, string> = {
  acquirers: 'acquirer',
  terminals: 'terminal',
  merchants: 'merchant',
  bins: 'bin',
  rules: 'rule',
  velocity: 'velocity',
  amount_thresholds: 'amount_threshold',
};

function entryLabel(data: unknown, pointer: string): string {
  const seg = pointer.split('/').slice(1);
  if (seg.length < 2) return '(file)';
  const [top, idx] = seg as [string, string];
  const list = (data as Record<string, unknown> | null)?.[top];
  const name = SINGULAR[top] ?? top;
  if (Array.isArray(list) && /^\d+$/.test(idx)) {
    const item = list[Number(idx)] as Record<string, unknown> | undefined;
    const id = item && typeof item === 'object' ? item.id : undefined;
    if (typeof id === 'string') return `${name} '${id}'`;
    if (item && typeof item === 'object' && typeof item.prefix === 'string') return `${name} '${item.prefix}'`;
    return `${name} #${idx}`;
  }
  return top;
}

function describeAjvErrors(file: string, data: unknown, errors: ErrorObject[]): RuleProblem[] {
  const out: RuleProblem[] = [];
  const oneOfPaths = new Set(errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath));
  const seen = new Set<string>();
  for (const e of errors) {
    // Errors from inside a oneOf's branches are summarized by the oneOf error itself.
    if (e.schemaPath.includes('/oneOf/') && oneOfPaths.has(e.instancePath)) continue;
    let path = e.instancePath;
    let reason: string;
    switch (e.keyword) {
      case 'additionalProperties':
        path = `${path}/${String(e.params.additionalProperty)}`;
        reason = `unknown key '${String(e.params.additionalProperty)}'`;
        break;
      case 'required':
        path = `${path}/${String(e.params.missingProperty)}`;
        reason = `missing required key '${String(e.params.missingProperty)}'`;
        break;
      case 'oneOf': {
        const alts = errors
          .filter((x) => x.instancePath === e.instancePath && x.schemaPath.includes('/oneOf/') && x.keyword === 'required')
          .map((x) => String(x.params.missingProperty));
        reason = alts.length > 0 ? `needs exactly one of: ${alts.join(', ')}` : `must match exactly one alternative (${e.message ?? 'oneOf'})`;
        break;
      }
      case 'enum':
        reason = `must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
        break;
      default:
        reason = e.message ?? e.keyword;
    }
    const key = `${path}|${reason}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ file, rule: entryLabel(data, e.instancePath || path), path, reason, kind: 'schema' });
  }
  return out;
}

function fileOf(name: RuleFileName): string {
  return `${name}.yaml`;
}

/** Cross-file and semantic checks that a JSON Schema cannot express. Assumes every file passed its schema. */
export function crossCheck(files: RuleFiles): RuleProblem[] {
  const problems: RuleProblem[] = [];
  const dup = (file: string, top: string, ids: string[], what: string): Set<string> => {
    const s = new Set<string>();
    ids.forEach((id, i) => {
      if (s.has(id)) {
        problems.push({ file, rule: `${what} '${id}'`, path: `/${top}/${i}/id`, reason: `duplicate ${what} id '${id}'`, kind: 'schema' });
      }
      s.add(id);
    });
    return s;
  };
  const acquirers = dup(
    'acquirers.yaml',
    'acquirers',
    files.acquirers.acquirers.map((a) => a.id),
    'acquirer',
  );
  const terminals = dup(
    'terminals.yaml',
    'terminals',
    files.terminals.terminals.map((t) => t.id),
    'terminal',
  );
  const merchants = dup(
    'merchants.yaml',
    'merchants',
    files.merchants.merchants.map((m) => m.id),
    'merchant',
  );
  dup(
    'routing.yaml',
    'rules',
    files.routing.rules.map((r) => r.id),
    'rule',
  );

  files.acquirers.acquirers.forEach((a, i) => {
    const tm = a.link.timeouts_ms;
    if (tm.slow !== undefined && tm.slow > tm.response) {
      problems.push({
        file: 'acquirers.yaml',
        rule: `acquirer '${a.id}'`,
        path: `/acquirers/${i}/link/timeouts_ms/slow`,
        reason: 'slow is above the response timeout',
        kind: 'schema',
      });
    }
  });

  const deKey = new Set<string>();
  files.terminals.terminals.forEach((t, i) => {
    const label = `terminal '${t.id}'`;
    if (!acquirers.has(t.acquirer)) {
      problems.push({
        file: 'terminals.yaml',
        rule: label,
        path: `/terminals/${i}/acquirer`,
        reason: 'unknown acquirer',
        kind: 'reference',
        refKind: 'acquirer',
        ref: t.acquirer,
      });
    }
    const k = `${t.acquirer}|${t.terminal_id}`;
    if (deKey.has(k)) {
      problems.push({
        file: 'terminals.yaml',
        rule: label,
        path: `/terminals/${i}/terminal_id`,
        reason: `terminal_id is used twice at acquirer ${t.acquirer}`,
        kind: 'schema',
      });
    }
    deKey.add(k);
    if (t.limits.min_minor !== undefined && t.limits.min_minor > t.limits.max_minor) {
      problems.push({ file: 'terminals.yaml', rule: label, path: `/terminals/${i}/limits/min_minor`, reason: 'min_minor is above max_minor', kind: 'schema' });
    }
  });

  files.bins.bins.forEach((b, i) => {
    if (b.range) {
      const [lo, hi] = b.range;
      if (lo.length !== hi.length) {
        problems.push({
          file: 'bins.yaml',
          rule: `bin #${i}`,
          path: `/bins/${i}/range`,
          reason: 'range ends must have the same number of digits',
          kind: 'schema',
        });
      } else if (lo > hi) {
        problems.push({ file: 'bins.yaml', rule: `bin #${i}`, path: `/bins/${i}/range`, reason: 'range start is above its end', kind: 'schema' });
      }
    }
  });

  const rules = files.routing.rules;
  rules.forEach((r, i) => {
    const label = `rule '${r.id}'`;
    const base = `/rules/${i}`;
    if (r.default) {
      if (i !== rules.length - 1) {
        problems.push({ file: 'routing.yaml', rule: label, path: `${base}/default`, reason: 'the default rule must be the last rule', kind: 'schema' });
      }
      if (r.when || r.unless) {
        problems.push({
          file: 'routing.yaml',
          rule: label,
          path: `${base}/${r.when ? 'when' : 'unless'}`,
          reason: 'the default rule has no conditions',
          kind: 'schema',
        });
      }
    }
    for (const part of ['when', 'unless'] as const) {
      const c = r[part];
      if (!c) continue;
      if (c.amount && c.amount.min !== undefined && c.amount.max !== undefined && c.amount.min > c.amount.max) {
        problems.push({ file: 'routing.yaml', rule: label, path: `${base}/${part}/amount`, reason: 'amount min is above max', kind: 'schema' });
      }
      c.bin_range?.forEach(([lo, hi], j) => {
        if (lo.length !== hi.length || lo > hi) {
          problems.push({
            file: 'routing.yaml',
            rule: label,
            path: `${base}/${part}/bin_range/${j}`,
            reason: 'range ends must have the same number of digits, start ≤ end',
            kind: 'schema',
          });
        }
      });
      if (c.time && c.time.from === c.time.to) {
        problems.push({ file: 'routing.yaml', rule: label, path: `${base}/${part}/time`, reason: 'from and to are equal (empty window)', kind: 'schema' });
      }
      c.merchant?.forEach((m, j) => {
        if (!merchants.has(m)) {
          problems.push({
            file: 'routing.yaml',
            rule: label,
            path: `${base}/${part}/merchant/${j}`,
            reason: 'unknown merchant',
            kind: 'reference',
            refKind: 'merchant',
            ref: m,
          });
        }
      });
    }
    const then = r.then;
    if ('terminals' in then) {
      const seen = new Set<string>();
      then.terminals.forEach((c, j) => {
        if (!terminals.has(c.terminal)) {
          problems.push({
            file: 'routing.yaml',
            rule: label,
            path: `${base}/then/terminals/${j}/terminal`,
            reason: 'unknown terminal',
            kind: 'reference',
            refKind: 'terminal',
            ref: c.terminal,
          });
        }
        if (seen.has(c.terminal)) {
          problems.push({
            file: 'routing.yaml',
            rule: label,
            path: `${base}/then/terminals/${j}/terminal`,
            reason: `terminal '${c.terminal}' is listed twice`,
            kind: 'schema',
          });
        }
        seen.add(c.terminal);
      });
    }
  });
  const last = rules[rules.length - 1];
  if (!last || !last.default) {
    problems.push({
      file: 'routing.yaml',
      rule: last ? `rule '${last.id}'` : '(file)',
      path: '/rules',
      reason: 'a default rule (default: true, no conditions) is required as the last rule',
      kind: 'schema',
    });
  }

  (files.risk.trusted_merchants ?? []).forEach((m, j) => {
    if (!merchants.has(m)) {
      problems.push({
        file: 'risk.yaml',
        rule: 'trusted_merchants',
        path: `/trusted_merchants/${j}`,
        reason: 'unknown merchant',
        kind: 'reference',
        refKind: 'merchant',
        ref: m,
      });
    }
  });
  // fees.yaml: overrides name terminals of their acquirer; every terminal's fee_plan is priced (src/ledger/fees.ts)
  if (files.fees) {
    for (const p of feeProblems(files.fees, files.terminals.terminals)) {
      problems.push({
        file: 'fees.yaml',
        rule: p.terminal ? `terminal '${p.terminal}'` : '(file)',
        path: p.path,
        reason: p.reason,
        kind: p.terminal ? 'reference' : 'schema',
        ...(p.terminal ? { refKind: 'fee plan', ref: files.terminals.terminals.find((t) => t.id === p.terminal)!.fee_plan } : {}),
      });
    }
  }
  return problems;
}

/** JSON with sorted keys: the hash does not depend on key order or YAML formatting. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

export function hashRuleFiles(files: RuleFiles): string {
  return createHash('sha256').update(canonicalJson(files)).digest('hex');
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return v;
}

/** Every problem of a set of parsed files (schema per file, then cross-file checks); [] when valid. */
export function validateRuleFiles(content: Record<string, unknown>): RuleProblem[] {
  const v = getValidators();
  const problems: RuleProblem[] = [];
  for (const key of Object.keys(content)) {
    if (!(RULE_FILE_NAMES as readonly string[]).includes(key)) {
      problems.push({ file: `${key}.yaml`, rule: '(file)', path: '', reason: `unknown rule file '${key}'`, kind: 'schema' });
    }
  }
  for (const name of RULE_FILE_NAMES) {
    const data = content[name];
    const validate = v.get(name)!;
    // fees.yaml joined the rule files later: a version stored before it has none (the runtime then reads rules/fees.yaml)
    if (data === undefined && name === 'fees') continue;
    if (data === undefined) {
      problems.push({ file: fileOf(name), rule: '(file)', path: '', reason: 'file is missing', kind: 'schema' });
      continue;
    }
    if (!validate(data)) problems.push(...describeAjvErrors(fileOf(name), data, validate.errors ?? []));
  }
  if (problems.length === 0) problems.push(...crossCheck(content as unknown as RuleFiles));
  return problems;
}

/** Validate parsed content (e.g. from a stored version) and return an immutable RuleSet, or throw. */
export function ruleSetFromContent(content: unknown, version?: number): RuleSet {
  if (!content || typeof content !== 'object' || Array.isArray(content)) {
    throw new RuleSetInvalidError([{ file: '(content)', rule: '(file)', path: '', reason: 'must be an object of rule files', kind: 'schema' }]);
  }
  // Work on a copy so the caller's object is never frozen or shared.
  const copy = JSON.parse(JSON.stringify(content)) as Record<string, unknown>;
  const problems = validateRuleFiles(copy);
  if (problems.length > 0) throw new RuleSetInvalidError(problems);
  const files = deepFreeze(copy as unknown as RuleFiles);
  const rs: RuleSet = version === undefined ? { files, hash: hashRuleFiles(files) } : { files, hash: hashRuleFiles(files), version };
  return Object.freeze(rs);
}

/** Read rules/<name>.yaml for every rule file; YAML errors name the file and line. */
export function readRuleFiles(dir: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of RULE_FILE_NAMES) {
    const file = fileOf(name);
    let text: string;
    try {
      text = readFileSync(join(dir, file), 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      if (name === 'fees' && code === 'ENOENT') continue; // a rules folder without fees: none are charged

      throw new SwitchError('SW_ERR_RULES_READ', { file, reason: code }, { cause: e });
    }
    try {
      out[name] = parseYaml(text, { uniqueKeys: true, maxAliasCount: 100 }) as unknown;
    } catch (e) {
      const pos = e instanceof YAMLParseError && e.linePos ? `line ${e.linePos[0].line}` : 'yaml';
      const reason = e instanceof YAMLParseError ? e.code : 'not valid YAML';
      throw new RuleSetInvalidError([{ file, rule: '(file)', path: pos, reason, kind: 'schema' }]);
    }
  }
  return out;
}

/** Load and validate the rule files of `dir` (default: the repository's rules/). */
export function loadRuleSet(dir: string = DEFAULT_RULES_DIR): RuleSet {
  return ruleSetFromContent(readRuleFiles(dir));
}
