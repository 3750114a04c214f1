/**
 * `npm run keys -- <command>`: the soft HSM's key file (docs/security.md, "Key store").
 *
 * The master key comes from SW_MASTER_KEY. Clear keys and key components are read from stdin (hidden when it is
 * a terminal), never from the command line, where the shell history and `ps` would keep them; what is printed
 * is check values only, never a key.
 *
 * Exit codes: 0 done, 1 refused (bad key, wrong check value, key file problem), 2 usage.
 */
import { exitWith, parseCli, usageError, type CliIo } from './args.js';
import { SwitchError } from '../errors.js';
import { hexUpper, wipe } from '../security/bytes.js';
import { checkValue } from '../security/des.js';
import { parseKeyName } from '../security/key-store.js';
import { masterKeyFromEnv, masterCheckValue } from '../security/master-key.js';
import { SoftHsm } from '../security/soft-hsm.js';

const spec = {
  name: 'keys',
  usage: `usage: npm run keys -- <command> [options]

Manages the soft HSM key file. The master key is SW_MASTER_KEY (32 bytes as hex or base64, e.g.
\`openssl rand -base64 32\`). Keys are read from stdin, hidden on a terminal; only check values are printed.

commands:
  init                         create an empty key file (mode 0600); never replaces one
  load --name NAME             store a key read from stdin as hex (one line), or with --components N as N
                               lines of hex components that are XORed (each component's check value is shown)
  list                         every key: name, type, length, check value
  kcv --name NAME              the check value of one key

options:
  --file PATH                  the key file (default SW_KEY_FILE, else data/keys.json)
  --name NAME                  type:owner, e.g. zmk:acq-1, zpk:psp-a, tak:acq-1 (types zmk zpk zak tak)
  --components N               load: the key is the XOR of N components (2..9)
  --kcv HEX                    load: the check value the key must have; refused and not stored otherwise
  --replace                    load: replace a key of the same name
  -h, --help                   this text

exit codes: 0 done, 1 refused, 2 usage
`,
  options: {
    file: { type: 'string' },
    name: { type: 'string' },
    components: { type: 'string' },
    kcv: { type: 'string' },
    replace: { type: 'boolean' },
  },
  allowPositionals: true,
} as const;

/** Hex digits (spaces and tabs allowed) from raw bytes into key bytes, without a string copy of the secret. */
function hexToKey(text: Uint8Array, what: string): Buffer {
  const nibbles: number[] = [];
  try {
    for (const c of text) {
      if (c === 0x20 || c === 0x09 || c === 0x0d) continue;
      const v = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x41 && c <= 0x46 ? c - 0x37 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
      if (v < 0) throw new SwitchError('SW_ERR_SEC_BAD_INPUT', { operation: 'load a key', reason: `${what} holds a character that is not a hex digit` });
      nibbles.push(v);
    }
    if (nibbles.length === 0 || nibbles.length % 2 !== 0) {
      throw new SwitchError('SW_ERR_SEC_BAD_INPUT', { operation: 'load a key', reason: `${what} is not an even number of hex digits` });
    }
    const out = Buffer.alloc(nibbles.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = (nibbles[2 * i]! << 4) | nibbles[2 * i + 1]!;
    return out;
  } finally {
    nibbles.fill(0);
  }
}

/** All of a piped stdin, split into non-empty lines; the read buffers are wiped. */
async function readPipedLines(stdin: AsyncIterable<Buffer | string>): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : c);
  const all = Buffer.concat(chunks);
  wipe(...chunks);
  const lines: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= all.length; i++) {
    if (i === all.length || all[i] === 0x0a) {
      const line = Buffer.from(all.subarray(start, i));
      if (line.some((c) => c !== 0x20 && c !== 0x09 && c !== 0x0d)) lines.push(line);
      else wipe(line);
      start = i + 1;
    }
  }
  wipe(all);
  return lines;
}

/** One line typed on the terminal without echo (Enter ends it, Backspace edits, Ctrl-C aborts). */
function readHiddenLine(prompt: string): Promise<Buffer> {
  process.stderr.write(prompt);
  const stdin = process.stdin;
  const typed: number[] = [];
  return new Promise((resolve, reject) => {
    const done = (err: Error | null) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      const line = Buffer.from(typed);
      typed.fill(0);
      if (err) {
        wipe(line);
        reject(err);
      } else resolve(line);
    };
    const onData = (chunk: Buffer) => {
      for (const c of chunk) {
        if (c === 0x0d || c === 0x0a) return done(null);
        if (c === 0x03 || c === 0x04) return done(new Error('aborted'));
        if (c === 0x7f || c === 0x08) typed.pop();
        else typed.push(c);
      }
      chunk.fill(0);
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

/** Where the command reads and writes: the process, or a test's streams. */
export interface KeysIo {
  out(s: string): void;
  err(s: string): void;
  env: NodeJS.ProcessEnv;
  /** Where key text comes from: a terminal (typed hidden) or a pipe. */
  stdin: AsyncIterable<Buffer | string> & { isTTY?: boolean };
  /** --help and usage errors (src/cli/args.ts). */
  cli?: CliIo;
}

const processIo: KeysIo = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  env: process.env,
  stdin: process.stdin,
};

/** `count` secret lines: typed hidden on a terminal, else read from the pipe (exactly `count` lines). */
async function readSecrets(io: KeysIo, count: number, label: (i: number) => string): Promise<Buffer[]> {
  if (io.stdin.isTTY && io.stdin === process.stdin) {
    const out: Buffer[] = [];
    for (let i = 0; i < count; i++) out.push(await readHiddenLine(`${label(i)}: `));
    return out;
  }
  const lines = await readPipedLines(io.stdin);
  if (lines.length !== count) {
    wipe(...lines);
    throw new SwitchError('SW_ERR_SEC_BAD_INPUT', { operation: 'load a key', reason: `stdin has ${lines.length} lines, ${count} expected (one per line)` });
  }
  return lines;
}

/** Runs `npm run keys -- argv…`; resolves with the exit code (a refusal rejects with its SwitchError). */
export async function runKeys(argv: string[], io: KeysIo = processIo): Promise<number> {
  const { values, positionals } = parseCli(spec, argv, io.cli);
  const [cmd, ...extra] = positionals;
  if (cmd === undefined || !['init', 'load', 'list', 'kcv'].includes(cmd) || extra.length > 0) {
    usageError(spec, cmd === undefined ? 'a command is needed' : `unknown command or argument: ${[cmd, ...extra].join(' ')}`, io.cli);
  }
  const file = values.file ?? io.env.SW_KEY_FILE ?? 'data/keys.json';
  if ((cmd === 'load' || cmd === 'kcv') && values.name === undefined) usageError(spec, `${cmd} needs --name`, io.cli);
  if (cmd !== 'load' && (values.components !== undefined || values.kcv !== undefined || values.replace)) {
    usageError(spec, '--components, --kcv and --replace belong to load', io.cli);
  }
  const components = values.components === undefined ? undefined : Number(values.components);
  if (components !== undefined && (!Number.isInteger(components) || components < 2 || components > 9)) usageError(spec, '--components takes 2..9', io.cli);
  if (values.name !== undefined) parseKeyName(values.name);

  const masterKey = masterKeyFromEnv(io.env);
  if (cmd === 'init') {
    const hsm = await SoftHsm.create(file, { masterKey });
    await hsm.close();
    io.out(`created ${file} (mode 0600) for the master key with check value ${masterCheckValue(masterKey)}\n`);
    return 0;
  }
  const hsm = await SoftHsm.open(file, { masterKey });
  try {
    if (cmd === 'list') {
      for (const k of hsm.list()) io.out(`${k.name}\t${k.type}\t${k.length * 8} bits\tKCV ${k.kcv}\n`);
      return 0;
    }
    const name = values.name!;
    if (cmd === 'kcv') {
      io.out(`${await hsm.kcv(name)}\n`);
      return 0;
    }
    if (!values.replace && (await hsm.keyNames()).includes(name)) {
      throw new SwitchError('SW_ERR_SEC_BAD_INPUT', { operation: 'load a key', reason: `${name} is already stored (add --replace to replace it)` });
    }
    const n = components ?? 1;
    const secrets = await readSecrets(io, n, (i) => (n === 1 ? `key ${name} (hex)` : `component ${i + 1} of ${n} (hex)`));
    const keys: Buffer[] = [];
    try {
      for (const [i, s] of secrets.entries()) keys.push(hexToKey(s, n === 1 ? 'the key' : `component ${i + 1}`));
      const odd = keys.findIndex((k) => k.length !== 16 && k.length !== 24);
      if (n > 1 && odd >= 0) {
        throw new SwitchError('SW_ERR_SEC_BAD_INPUT', { operation: 'load a key', reason: `component ${odd + 1} is ${keys[odd]!.length} bytes, not 16 or 24` });
      }
      if (n > 1) {
        for (const [i, k] of keys.entries()) {
          const cv = checkValue(k);
          io.err(`component ${i + 1}: KCV ${hexUpper(cv.subarray(0, 3))}\n`);
          wipe(cv);
        }
      }
      const info = n === 1 ? await hsm.loadKey(name, keys[0]!, values.kcv) : await hsm.loadComponents(name, keys, values.kcv);
      io.out(`stored ${info.name} (${info.length * 8} bits) KCV ${info.kcv} in ${file}\n`);
      return 0;
    } finally {
      wipe(...secrets, ...keys);
    }
  } finally {
    await hsm.close();
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) exitWith(runKeys(process.argv.slice(2)), 'keys', 1);
