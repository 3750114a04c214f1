/**
 * `npm run keys` (src/cli/keys.ts): creates the key file (mode 0600), loads keys from stdin as hex or as
 * components, checks an expected check value, lists, and never prints a key or a component. The commands run in
 * this process (runKeys with the test's streams); a few run as package.json runs them, as a child process with
 * the key text on its stdin.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { isSwitchError } from '../../src/errors.js';
import { runKeys } from '../../src/cli/keys.js';
import { parseMasterKey } from '../../src/security/master-key.js';
import { SoftHsm } from '../../src/security/soft-hsm.js';
import { bareChildEnv } from '../helpers/node-args.js';
import { ROOT } from '../helpers/switch.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The command as a child process, as `npm run keys` runs it. */
function spawnKeys(args: string[], env: Record<string, string>, stdin = ''): Promise<Run> {
  const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/keys.ts', ...args], { cwd: ROOT, env: bareChildEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  p.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  p.stdin.end(stdin);
  return new Promise((resolve) => p.once('close', (code) => resolve({ code, stdout, stderr })));
}

class Exit {
  constructor(readonly code: number) {}
}

/** The command in this process: exit codes as exitWith gives them (a refusal: `keys: message`, 1). */
async function keys(args: string[], env: Record<string, string>, stdin = ''): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const out = (s: string) => void (stdout += s);
  const err = (s: string) => void (stderr += s);
  const cli = {
    out,
    err,
    exit: (code: number): never => {
      throw new Exit(code);
    },
  };
  try {
    const code = await runKeys(args, { out, err, env, stdin: Readable.from([Buffer.from(stdin)]), cli });
    return { code, stdout, stderr };
  } catch (e) {
    if (e instanceof Exit) return { code: e.code, stdout, stderr };
    if (!isSwitchError(e)) throw e;
    return { code: 1, stdout, stderr: `${stderr}keys: ${e.message}\n` };
  }
}

const ANSI_KEY = '0123456789ABCDEFFEDCBA9876543210';
// ID TECH's key-loading example: three components whose XOR is the ANSI test key
const COMPONENTS = ['988A59D7273186B8C9C9922B6D40BA75', '8936E5269ADFABE7D4829B2EFB3BF5D9', '109FF9963445E0B0E397B39DE02F7DBC'];

t.test('init, load (hex and components), a refused check value, list, kcv; nothing secret printed', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sw-keys-cli-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'keys.json');
  const master = crypto.createHash('sha256').update('cli test').digest('base64');
  const env = { SW_MASTER_KEY: master, SW_KEY_FILE: file };
  const runs: Run[] = [];
  const run = async (args: string[], stdin?: string) => {
    const r = await keys(args, env, stdin);
    runs.push(r);
    return r;
  };

  const init = await run(['init']);
  t.equal(init.code, 0, init.stderr);
  t.match(init.stdout, /^created .*keys\.json \(mode 0600\) for the master key with check value [0-9A-F]{6}\n$/);
  t.equal((await fs.stat(file)).mode & 0o777, 0o600, 'the file is mode 0600');
  t.equal((await run(['init'])).code, 1, 'init never replaces a key file');

  const hexLoad = await run(['load', '--name', 'zmk:acq-1', '--kcv', '08D7B4'], `${ANSI_KEY.toLowerCase()}\n`);
  t.equal(hexLoad.code, 0, hexLoad.stderr);
  t.equal(hexLoad.stdout, `stored zmk:acq-1 (128 bits) KCV 08D7B4 in ${file}\n`);

  const comp = await run(['load', '--name', 'zpk:acq-1', '--components', '3', '--kcv', '08D7B4'], `${COMPONENTS.join('\n')}\n`);
  t.equal(comp.code, 0, comp.stderr);
  t.match(comp.stdout, /^stored zpk:acq-1 \(128 bits\) KCV 08D7B4/);
  t.match(comp.stderr, /component 1: KCV [0-9A-F]{6}\ncomponent 2: KCV [0-9A-F]{6}\ncomponent 3: KCV [0-9A-F]{6}\n/, 'each component has its check value');

  const wrong = await run(['load', '--name', 'zpk:psp-a', '--kcv', '000000'], `${ANSI_KEY}\n`);
  t.equal(wrong.code, 1, 'a wrong check value exits 1');
  t.match(wrong.stderr, /^keys: key zpk:psp-a: its check value is not the expected 000000; nothing was stored\n$/);
  const again = await run(['load', '--name', 'zmk:acq-1'], `${ANSI_KEY}\n`);
  t.equal(again.code, 1, 'an existing name needs --replace');
  t.match(again.stderr, /already stored \(add --replace/);
  t.equal((await run(['load', '--name', 'zak:x', '--components', '2'], `${COMPONENTS[0]}\n`)).code, 1, 'too few component lines');
  t.equal((await run(['load', '--name', 'zak:x'], 'not hex\n')).code, 1, 'not hex');
  t.equal((await run(['load'], '')).code, 2, 'load without --name is a usage error');
  t.equal((await run(['list', '--kcv', '00'])).code, 2, '--kcv belongs to load');
  t.equal((await run(['frobnicate'])).code, 2, 'an unknown command');
  t.equal((await run(['load', '--name', 'zak:x', '--components', '12'], '')).code, 2, '--components 2..9');

  const list = await run(['list']);
  t.equal(list.code, 0);
  t.equal(list.stdout, 'zmk:acq-1\tzmk\t128 bits\tKCV 08D7B4\nzpk:acq-1\tzpk\t128 bits\tKCV 08D7B4\n');
  const kcv = await run(['kcv', '--name', 'zpk:acq-1']);
  t.equal(kcv.stdout, '08D7B4\n');
  t.equal((await run(['kcv', '--name', 'zpk:none'])).code, 1, 'an unknown key');

  // the file opens in the library with the same master key and holds what was loaded
  const hsm = await SoftHsm.open(file, { masterKey: parseMasterKey(master) });
  t.same(await hsm.keyNames(), ['zmk:acq-1', 'zpk:acq-1']);

  const noMaster = await keys(['list'], { SW_KEY_FILE: file });
  const help = await keys(['--help'], env);
  t.equal(help.code, 0);
  t.match(help.stdout, /^usage: npm run keys -- <command>/);
  t.equal(noMaster.code, 1, 'no master key');
  t.match(noMaster.stderr, /SW_MASTER_KEY\) is unusable: it is not set/);

  const printed = runs.map((r) => r.stdout + r.stderr).join('\n') + noMaster.stderr;
  const secrets = [ANSI_KEY, ...COMPONENTS].flatMap((k) => [k, k.toLowerCase(), k.slice(0, 16), k.slice(16), k.slice(0, 16).toLowerCase()]);
  t.same(
    secrets.filter((s) => printed.includes(s)),
    [],
    'no key, component or half of one in anything printed',
  );
  t.notMatch(printed, new RegExp(Buffer.from(master, 'base64').toString('hex'), 'i'), 'nor the master key');
  t.notOk(printed.includes(master), 'nor the master key as given');
});

t.test('as a child process: the key text on stdin, the check value on stdout, a refusal on stderr with exit 1', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sw-keys-cli-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'keys.json');
  const env = { SW_MASTER_KEY: crypto.createHash('sha256').update('cli child').digest('hex'), SW_KEY_FILE: file };
  const init = await spawnKeys(['init'], env);
  t.equal(init.code, 0, init.stderr);
  const [hexLoad, wrong] = [
    await spawnKeys(['load', '--name', 'zmk:acq-1', '--kcv', '08D7B4'], env, `${ANSI_KEY}\n`),
    await spawnKeys(['load', '--name', 'zpk:acq-1', '--components', '3', '--kcv', '000000'], env, `${COMPONENTS.join('\n')}\n`),
  ];
  t.equal(hexLoad.code, 0, hexLoad.stderr);
  t.equal(hexLoad.stdout, `stored zmk:acq-1 (128 bits) KCV 08D7B4 in ${file}\n`);
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, /keys: key zpk:acq-1: its check value is not the expected 000000; nothing was stored\n$/);
  const printed = [init, hexLoad, wrong].map((r) => r.stdout + r.stderr).join('');
  t.same(
    [ANSI_KEY, ...COMPONENTS].filter((k) => printed.toUpperCase().includes(k) || printed.toUpperCase().includes(k.slice(16))),
    [],
    'no key or component printed',
  );
});
