/**
 * The soft HSM's key file (docs/security.md, "Key store"): JSON, mode 0600, every key sealed with AES-256-GCM
 * under the master key with the key's name as associated data (an entry moved to another name does not open).
 * Written whole to a temporary file in the same folder, synced and renamed over the old one, so a crash leaves
 * the old file or the new one, never half of either. This module reads and writes the shape; it never sees a
 * clear key.
 *
 *   { "format": "iso8583-switch/keys/1", "master": "<check value of the master key>",
 *     "keys": { "zpk:psp-a": { "length": 16, "kcv": "08D7B4", "nonce": b64, "data": b64, "tag": b64, "updated": iso } } }
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { SwitchError } from '../errors.js';
import { KEY_LENGTHS, parseKeyName } from './key-store.js';

export const KEY_FILE_FORMAT = 'iso8583-switch/keys/1';

/** One sealed key: AES-256-GCM of the clear key (nonce 12 bytes, tag 16), with its public length and check value. */
export interface SealedKey {
  readonly length: number;
  readonly kcv: string;
  readonly nonce: Buffer;
  readonly data: Buffer;
  readonly tag: Buffer;
  readonly updated: string;
}

export interface KeyFileContent {
  /** Check value of the master key the entries are sealed under (src/security/master-key.ts). */
  readonly master: string;
  readonly keys: ReadonlyMap<string, SealedKey>;
}

function fileError(file: string, reason: string, cause?: unknown): SwitchError {
  return new SwitchError('SW_ERR_SEC_KEY_FILE', { file, reason }, cause === undefined ? undefined : { cause });
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

function b64(v: unknown, bytes: number | null): Buffer | null {
  if (typeof v !== 'string' || !B64.test(v)) return null;
  const b = Buffer.from(v, 'base64');
  return bytes === null || b.length === bytes ? b : null;
}

function entryOf(file: string, name: string, v: unknown): SealedKey {
  let type;
  try {
    type = parseKeyName(name).type;
  } catch {
    throw fileError(file, 'holds an entry whose name is not a valid key name');
  }
  const e = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  const nonce = b64(e.nonce, 12);
  const tag = b64(e.tag, 16);
  const data = b64(e.data, null);
  const length = e.length;
  const ok =
    typeof length === 'number' &&
    KEY_LENGTHS[type].includes(length) &&
    typeof e.kcv === 'string' &&
    /^[0-9A-F]{6}$/.test(e.kcv) &&
    nonce !== null &&
    tag !== null &&
    data !== null &&
    data.length === length &&
    typeof e.updated === 'string';
  if (!ok) throw fileError(file, `has a malformed entry ${name} (its length, kcv, nonce, data, tag or updated)`);
  return { length, kcv: e.kcv as string, nonce: nonce!, data: data!, tag: tag!, updated: e.updated as string };
}

/** Reads and checks the shape of a key file; refuses one other users may read or write. */
export async function readKeyFile(file: string): Promise<KeyFileContent> {
  let text: string;
  try {
    const st = await fs.stat(file);
    if (!st.isFile()) throw fileError(file, 'is not a file');
    if ((st.mode & 0o077) !== 0) {
      throw fileError(file, `can be read or written by other users (mode ${(st.mode & 0o777).toString(8)}): chmod 600 it`);
    }
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if (e instanceof SwitchError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw fileError(file, 'does not exist (`npm run keys -- init` creates one)');
    throw fileError(file, `cannot be read (${code ?? 'error'})`, e);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw fileError(file, 'is not JSON');
  }
  const o = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  if (o.format !== KEY_FILE_FORMAT) throw fileError(file, `is not a key file of format ${KEY_FILE_FORMAT}`);
  if (typeof o.master !== 'string' || !/^[0-9A-F]{6}$/.test(o.master)) throw fileError(file, 'has no master key check value');
  if (typeof o.keys !== 'object' || o.keys === null || Array.isArray(o.keys)) throw fileError(file, 'has no keys object');
  const keys = new Map<string, SealedKey>();
  for (const [name, v] of Object.entries(o.keys)) keys.set(name, entryOf(file, name, v));
  return { master: o.master, keys };
}

function render(content: KeyFileContent): string {
  const keys: Record<string, unknown> = {};
  for (const name of [...content.keys.keys()].sort()) {
    const k = content.keys.get(name)!;
    keys[name] = {
      length: k.length,
      kcv: k.kcv,
      nonce: k.nonce.toString('base64'),
      data: k.data.toString('base64'),
      tag: k.tag.toString('base64'),
      updated: k.updated,
    };
  }
  return `${JSON.stringify({ format: KEY_FILE_FORMAT, master: content.master, keys }, null, 2)}\n`;
}

/**
 * Writes the whole key file: a new file (mode 0600) beside it, synced, renamed over it. With `exclusive`, refuses
 * to replace an existing file (creating a key store).
 */
export async function writeKeyFile(file: string, content: KeyFileContent, exclusive = false): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`);
  try {
    await fs.mkdir(dir, { recursive: true });
    const fh = await fs.open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(render(content), 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (exclusive) {
      // link fails when the target exists: no window in which another writer's file is replaced
      await fs.link(tmp, file);
      await fs.unlink(tmp);
    } else {
      await fs.rename(tmp, file);
    }
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw fileError(file, 'already exists; refusing to replace it');
    throw fileError(file, `cannot be written (${code ?? 'error'})`, e);
  }
}
