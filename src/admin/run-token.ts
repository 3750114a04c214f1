/**
 * The quick start's one-run operator token (docs/admin.md, "The quick-start token"; docs/security.md, "Admin").
 * With no admin tokens configured, `npm start` makes a random operator token for this run and writes it to
 * `data/admin.token` beside the embedded database's data directory, mode 0600, replacing the file of an earlier
 * run. The token is printed in full only when stdout is a terminal; piped or redirected output (a service
 * manager's journal, a container log) gets a short prefix and the file's path.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { SwitchError } from '../errors.js';
import { hashToken } from './auth.js';
import type { TokenEntry } from './deps.js';

export const RUN_TOKEN_FILE = 'admin.token';
/** Characters of the token shown where the output is not a terminal. */
export const RUN_TOKEN_PREFIX = 4;

/** `data/admin.token`: in the folder of the embedded database's data directory (`database.dataDir`, default data/pg). */
export function runTokenFile(dataDir: string): string {
  return path.join(path.dirname(path.resolve(dataDir)), RUN_TOKEN_FILE);
}

/** A fresh token (32 characters, base64url of 24 random bytes) and its config entry: operator, named "quickstart". */
export function newRunToken(): { token: string; entry: TokenEntry } {
  const token = crypto.randomBytes(24).toString('base64url');
  return { token, entry: { name: 'quickstart', role: 'operator', sha256: hashToken(token) } };
}

const reasonOf = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/**
 * Writes `token` to `file`, readable by this user only. The token goes into a new file created 0600 in the same
 * folder, which is then renamed over `file`: whatever was there before (an earlier run's token, a file another
 * user made world-readable, a symbolic link) is replaced, never written through, and no reader ever sees a
 * half-written token. A failure is SW_ERR_ADMIN_TOKEN_FILE naming the file.
 */
export async function writeRunTokenFile(file: string, token: string): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`);
  try {
    await fs.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new SwitchError('SW_ERR_ADMIN_TOKEN_FILE', { path: file, reason: `its folder cannot be made (${reasonOf(e)})` }, { cause: e });
  }
  try {
    const fh = await fs.open(tmp, 'wx', 0o600);
    try {
      await fh.chmod(0o600); // the umask can only take bits away; this makes it exactly 0600
      await fh.writeFile(token + '\n', 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw new SwitchError('SW_ERR_ADMIN_TOKEN_FILE', { path: file, reason: `cannot be written (${reasonOf(e)})` }, { cause: e });
  }
  const st = await fs.lstat(file);
  if (!st.isFile() || (st.mode & 0o077) !== 0) {
    throw new SwitchError('SW_ERR_ADMIN_TOKEN_FILE', { path: file, reason: `is not a private file after writing (mode ${(st.mode & 0o777).toString(8)})` });
  }
}

/** How the token is shown: in full on a terminal, else its first characters and "…" (the file has it). */
export function shownToken(token: string, isTTY: boolean): string {
  return isTTY ? token : `${token.slice(0, RUN_TOKEN_PREFIX)}…`;
}
