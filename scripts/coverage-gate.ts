/**
 * The coverage gate of `npm test` (its posttest): tap collects V8 coverage of every run and writes
 * .tap/report/coverage-summary.json; this fails the run when the line coverage of src/ is under the threshold
 * (COVERAGE_LINES, default 90), and lists the files that pull it down most.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { parseCli } from '../src/cli/args.js';

parseCli(
  {
    name: 'posttest',
    usage:
      'usage: npm run posttest (run by npm test after the suite)\n\nFails when src/ line coverage in .tap/report/coverage-summary.json is under COVERAGE_LINES (default 90).\noptions: -h, --help   this text',
    options: {},
  },
  process.argv.slice(2),
);

interface Totals {
  lines: { total: number; covered: number; pct: number };
}

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const threshold = Number(process.env.COVERAGE_LINES ?? 90);
let summary: Record<string, Totals>;
try {
  summary = JSON.parse(readFileSync(path.join(root, '.tap', 'report', 'coverage-summary.json'), 'utf8')) as Record<string, Totals>;
} catch (e) {
  process.stderr.write(`coverage gate: no coverage summary (${(e as Error).message}); run npm test\n`);
  process.exit(1);
}
const src = Object.entries(summary).filter(([file]) => file !== 'total' && path.relative(root, file).startsWith(`src${path.sep}`));
// a file no test loads is not in the summary at all: it counts as not run, every line of it
const seen = new Set(src.map(([file]) => path.resolve(file)));
const all = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? all(path.join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path.join(dir, e.name)] : [],
  );
// (a file of types only has no code to run: what TypeScript emits for it is empty)
const hasCode = (text: string): boolean =>
  ts.transpileModule(text, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText.replace(/export \{\};|\s/g, '') !==
  '';
for (const file of all(path.join(root, 'src'))) {
  if (seen.has(file)) continue;
  const text = readFileSync(file, 'utf8');
  if (!hasCode(text)) continue;
  const lines = text.split('\n').length;
  src.push([file, { lines: { total: lines, covered: 0, pct: 0 } }]);
}
const total = src.reduce((a, [, t]) => ({ total: a.total + t.lines.total, covered: a.covered + t.lines.covered }), { total: 0, covered: 0 });
const pct = total.total === 0 ? 0 : (100 * total.covered) / total.total;
const worst = src
  .map(([file, t]) => ({ file: path.relative(root, file), missed: t.lines.total - t.lines.covered, pct: t.lines.pct }))
  .filter((f) => f.missed > 0)
  .sort((a, b) => b.missed - a.missed)
  .slice(0, 10);
process.stdout.write(`# coverage of src/: ${pct.toFixed(2)}% of ${total.total} lines (gate ${threshold}%), ${src.length} files\n`);
for (const w of worst) process.stdout.write(`#   ${w.file}: ${w.missed} lines not run (${w.pct}%)\n`);
if (src.length === 0 || pct < threshold) {
  process.stderr.write(`coverage gate: src/ line coverage ${pct.toFixed(2)}% is under ${threshold}%\n`);
  process.exit(1);
}
