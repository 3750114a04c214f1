/**
 * The dependency rules of docs/architecture.md, checked on the import statements of src/: nothing in src/
 * imports simulators/, test/ or bench/; admin/ and switch/ never import each other (src/app/ composes them);
 * the lower layers (codec, wire, net, store, ledger, routing, risk, security) import neither.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SRC = path.join(ROOT, 'src');

/** Every relative module a source text imports or re-exports (static and dynamic), resolved against `file`. */
export function importsOf(file: string, text: string): string[] {
  const out: string[] = [];
  const re = /(?:^|\n)\s*(?:import|export)\b[^'";]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const m of text.matchAll(re)) {
    const spec = m[1] ?? m[2] ?? m[3]!;
    if (spec.startsWith('.'))
      out.push(
        path
          .relative(ROOT, path.resolve(path.dirname(file), spec))
          .split(path.sep)
          .join('/'),
      );
  }
  return out;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

const edges = sources(SRC).flatMap((file) =>
  importsOf(file, readFileSync(file, 'utf8')).map((to) => ({ from: path.relative(ROOT, file).split(path.sep).join('/'), to })),
);

t.test('the scanner sees static, multi-line, type-only, re-export and dynamic imports', async (t) => {
  const f = path.join(SRC, 'switch', 'x.ts');
  const text =
    "import a from '../admin/app.js';\nimport type {\n  B,\n} from '../../simulators/acquirer/index.js';\nexport { c } from './c.js';\nconst d = await import('../net/index.js');\nimport './side.js';\n";
  t.same(importsOf(f, text), ['src/admin/app.js', 'simulators/acquirer/index.js', 'src/switch/c.js', 'src/net/index.js', 'src/switch/side.js']);
  t.ok(edges.length > 200, `src/ has its imports (${edges.length})`);
});

t.test('nothing in src/ imports simulators/, test/ or bench/', async (t) => {
  t.same(
    edges.filter((e) => /^(simulators|test|bench)\//.test(e.to)),
    [],
  );
});

t.test('admin/ and switch/ do not import each other', async (t) => {
  t.same(
    edges.filter(
      (e) => (e.from.startsWith('src/admin/') && e.to.startsWith('src/switch/')) || (e.from.startsWith('src/switch/') && e.to.startsWith('src/admin/')),
    ),
    [],
  );
});

t.test('the lower layers (security/ among them) import neither admin/, switch/ nor app/', async (t) => {
  const lower = /^src\/(iso8583|wire|net|store|ledger|routing|risk|security)\//;
  t.same(
    edges.filter((e) => lower.test(e.from) && /^src\/(admin|switch|app)\//.test(e.to)),
    [],
  );
});

t.test('net/ holds no keys: it does not import security/ (the switch passes the link its MAC hook, src/net/link/guard.ts)', async (t) => {
  t.same(
    edges.filter((e) => e.from.startsWith('src/net/') && e.to.startsWith('src/security/')),
    [],
  );
});

t.test('only app/ and the entry points import app/', async (t) => {
  t.same(
    edges.filter((e) => e.to.startsWith('src/app/') && !e.from.startsWith('src/app/') && e.from !== 'src/main.ts'),
    [],
  );
});

t.test('a test that starts a node child passes it an environment without coverage (test/helpers/node-args.ts)', async (t) => {
  // tap's report maps a tsx child's coverage to one line per file, and merged with the test's own it makes src/'s
  // line totals change from run to run (docs/CONTRIBUTING.md, "Coverage")
  const spawning = sources(path.join(ROOT, 'test')).filter((f) => /spawn(Sync)?\(\s*process\.execPath|run\(\s*process\.execPath/.test(readFileSync(f, 'utf8')));
  t.ok(spawning.length >= 10, `${spawning.length} test files start node children`);
  const without = spawning.filter((f) => !/\b(bareChildEnv|childEnv)\(/.test(readFileSync(f, 'utf8'))).map((f) => path.relative(ROOT, f));
  t.same(without, [], 'each of them uses childEnv() or bareChildEnv()');
});
