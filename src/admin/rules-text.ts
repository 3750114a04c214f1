/**
 * Rule sets as the risk team edits them: YAML text per file. Parsing with line numbers, mapping a validation
 * problem's JSON pointer to a line of the text, and a line diff between two versions.
 */
import { LineCounter, parseDocument, stringify, isNode, type Node } from 'yaml';
import { RULE_FILE_NAMES, type RuleFiles } from '../routing/types.js';
import type { RuleProblem } from '../routing/rules-loader.js';

export interface ProblemView {
  file: string;
  rule: string;
  path: string;
  reason: string;
  kind: string;
  ref?: string;
  /** 1-based line in the submitted YAML text of the file, when it was submitted as text. */
  line?: number;
}

/** Keys first in this order (Postgres jsonb stores keys sorted by length; people read id → when → then). */
const KEY_ORDER = [
  'id',
  'name',
  'description',
  'default',
  'prefix',
  'range',
  'when',
  'unless',
  'then',
  'terminal',
  'acquirer',
  'terminal_id',
  'merchant_id',
  'priority',
  'weight',
  'sticky',
  'terminals',
  'decline',
  'reason',
];
const rank = (k: string): number => {
  const i = KEY_ORDER.indexOf(k);
  return i < 0 ? KEY_ORDER.length : i;
};

function ordered(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(ordered);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o).sort((a, b) => rank(a) - rank(b) || (rank(a) === KEY_ORDER.length ? a.localeCompare(b) : 0));
    return Object.fromEntries(keys.map((k) => [k, ordered(o[k])]));
  }
  return v;
}

/** Each rule file as YAML text, keys in a readable order (the content hash does not depend on key order). */
export function filesToYaml(files: RuleFiles | Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of RULE_FILE_NAMES) {
    const v = (files as Record<string, unknown>)[name];
    if (v !== undefined) out[name] = stringify(ordered(v), { lineWidth: 0 });
  }
  return out;
}

export interface ParsedInput {
  content: Record<string, unknown>;
  /** Files submitted as text, by name. */
  texts: Record<string, string>;
  /** YAML syntax problems (then content lacks the file). */
  problems: ProblemView[];
}

/**
 * Rule files from a request: each value is a parsed object or YAML text; files not given come from `base`
 * (the version the editor started from).
 */
export function parseRulesInput(files: Record<string, unknown>, base: RuleFiles | null): ParsedInput {
  const content: Record<string, unknown> = base ? JSON.parse(JSON.stringify(base)) : {};
  const texts: Record<string, string> = {};
  const problems: ProblemView[] = [];
  for (const [name, v] of Object.entries(files)) {
    if (typeof v !== 'string') {
      content[name] = v;
      continue;
    }
    texts[name] = v;
    const lc = new LineCounter();
    const doc = parseDocument(v, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
    const err = doc.errors[0];
    if (err) {
      const line = err.linePos?.[0].line ?? lc.linePos(err.pos[0]).line;
      problems.push({
        file: `${name}.yaml`,
        rule: '(file)',
        path: '',
        reason: `YAML ${err.code}: ${err.message.split('\n')[0]!.slice(0, 160)}`,
        kind: 'syntax',
        line,
      });
      delete content[name];
      continue;
    }
    content[name] = doc.toJS({ maxAliasCount: 100 }) as unknown;
  }
  return { content, texts, problems };
}

function pointerSegments(p: string): (string | number)[] {
  if (!p || p === '/') return [];
  return p
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^[0-9]+$/.test(s) ? Number(s) : s));
}

/** Attach the YAML line of each problem whose file was submitted as text (nearest existing ancestor). */
export function withLines(problems: readonly RuleProblem[], texts: Record<string, string>): ProblemView[] {
  const docs = new Map<string, { doc: ReturnType<typeof parseDocument>; lc: LineCounter }>();
  return problems.map((p) => {
    const view: ProblemView = { file: p.file, rule: p.rule, path: p.path, reason: p.reason, kind: p.kind, ...(p.ref !== undefined ? { ref: p.ref } : {}) };
    const name = p.file.replace(/\.yaml$/, '');
    const text = texts[name];
    if (text === undefined) return view;
    let d = docs.get(name);
    if (!d) {
      const lc = new LineCounter();
      d = { doc: parseDocument(text, { lineCounter: lc }), lc };
      docs.set(name, d);
    }
    const segs = pointerSegments(p.path);
    for (let n = segs.length; n >= 0; n--) {
      const node = n === 0 ? d.doc.contents : d.doc.getIn(segs.slice(0, n), true);
      if (isNode(node) && (node as Node).range) {
        view.line = d.lc.linePos((node as Node).range![0]).line;
        break;
      }
    }
    return view;
  });
}

export interface DiffLine {
  op: ' ' | '+' | '-';
  text: string;
}

export interface FileDiff {
  file: string;
  changed: boolean;
  added: number;
  removed: number;
  lines: DiffLine[];
}

/** Line diff (longest common subsequence) of two texts. */
export function diffLines(a: string, b: string): DiffLine[] {
  const x = a.split('\n');
  const y = b.split('\n');
  if (x[x.length - 1] === '') x.pop();
  if (y[y.length - 1] === '') y.pop();
  const n = x.length;
  const m = y.length;
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--) lcs[i]![j] = x[i] === y[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) {
      out.push({ op: ' ', text: x[i]! });
      i++;
      j++;
    } else if (lcs[i + 1]![j]! >= lcs[i]![j + 1]!) out.push({ op: '-', text: x[i++]! });
    else out.push({ op: '+', text: y[j++]! });
  }
  while (i < n) out.push({ op: '-', text: x[i++]! });
  while (j < m) out.push({ op: '+', text: y[j++]! });
  return out;
}

/** Per-file diff of two rule sets as YAML; unchanged files are listed with changed=false and no lines. */
export function diffRuleFiles(a: RuleFiles, b: RuleFiles): FileDiff[] {
  const ya = filesToYaml(a);
  const yb = filesToYaml(b);
  return RULE_FILE_NAMES.map((name) => {
    const ta = ya[name] ?? '';
    const tb = yb[name] ?? '';
    if (ta === tb) return { file: `${name}.yaml`, changed: false, added: 0, removed: 0, lines: [] };
    const lines = diffLines(ta, tb);
    return {
      file: `${name}.yaml`,
      changed: true,
      added: lines.filter((l) => l.op === '+').length,
      removed: lines.filter((l) => l.op === '-').length,
      lines,
    };
  });
}
