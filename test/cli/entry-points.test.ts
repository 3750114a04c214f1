/**
 * Every command-line entry point of package.json (each script run by tsx: start, reset, send, load, rules,
 * ledger:check, ledger:recon, archive, pan-keys, sim:acquirer, fuzz, docs:errors and the benchmarks) follows src/cli/args.ts:
 * `--help` prints its usage on stdout and exits 0 without doing anything else; an unknown option prints the
 * error and the usage on stderr and exits 2. Each script runs as package.json says, `tsx file args…` as
 * `node --import tsx file args…`, without npm's start-up.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers/switch.js';
import { bareChildEnv } from '../helpers/node-args.js';

const scripts = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
/** `tsx file args…` runs as `node --import tsx file args…`; `node [flags] --import tsx file args…` as it is. */
const entries = Object.entries(scripts)
  .map(([name, cmd]) => ({ name, words: cmd.split(/\s+/) }))
  .filter(({ words }) => words[0] === 'tsx' || (words[0] === 'node' && words.join(' ').includes('--import tsx')))
  .map(({ name, words }) => ({ name, args: words[0] === 'tsx' ? ['--import', 'tsx', ...words.slice(1)] : words.slice(1) }));

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // no DATABASE_URL and friends: a script that ignored --help and went on would show it by hanging or failing
  const env = bareChildEnv();
  const p = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  p.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    p.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

t.test('the entry points the issue names are all there', async (t) => {
  const names = entries.map((e) => e.name);
  for (const n of [
    'start',
    'reset',
    'send',
    'load',
    'rules',
    'ledger:check',
    'ledger:recon',
    'archive',
    'pan-keys',
    'sim:acquirer',
    'fuzz',
    'bench:codec',
    'bench:link',
    'bench:ledger',
    'bench:routing',
    'bench:outage',
    'bench:e2e',
    'bench:growth',
  ]) {
    t.ok(names.includes(n), n);
  }
});

for (const e of entries) {
  t.test(`npm run ${e.name} -- --help / --no-such-option`, async (t) => {
    const [help, bad] = await Promise.all([run([...e.args, '--help']), run([...e.args, '--no-such-option'])]);
    t.equal(help.code, 0, '--help exits 0');
    t.match(help.stdout, /^usage: npm (run |start)/, '--help prints the usage on stdout');
    t.equal(help.stderr, '', 'and nothing on stderr');
    t.equal(bad.code, 2, 'an unknown option exits 2');
    t.match(bad.stderr, /Unknown option '--no-such-option'/, 'names the option');
    t.match(bad.stderr, /\nusage: npm (run |start)/, 'and prints the usage');
    t.equal(bad.stdout, '', 'nothing on stdout');
  });
}

t.test("a failure after parsing: `prefix: message` on stderr and the command's exit code (exitWith)", async (t) => {
  // a database that refuses the connection at once
  const env = bareChildEnv({ DATABASE_URL: 'postgres://127.0.0.1:1/none' });
  const runWith = (file: string, args: string[]) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, ['--import', 'tsx', file, ...args], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      p.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      p.once('close', (code) => resolve({ code, stderr }));
    });
  const [ledger, archive] = await Promise.all([runWith('src/cli/ledger.ts', ['check']), runWith('src/cli/archive.ts', [])]);
  t.equal(ledger.code, 2, 'ledger: 2, the database cannot be used');
  t.match(ledger.stderr, /^ledger: .*ECONNREFUSED/m);
  t.equal(archive.code, 1, 'archive: 1');
  t.match(archive.stderr, /^archive: .*ECONNREFUSED/m);
});
