/**
 * The PAN hash key (docs/switch.md, "PAN hash key"): the HMAC key of the PAN hashes stored with every
 * transaction. With the hash and the masked PAN (6+4) anyone who knows the key finds the PAN in about 10^6
 * guesses, so the key is a secret:
 *  - a key configured (`panHashKey`, PAN_HASH_KEY) is used, except the development key of earlier versions,
 *    which is published and refused everywhere;
 *  - with none configured and the embedded database, a random key is generated on the first start and kept in
 *    the data folder (`data/pan-hash.key`, mode 0600), and later starts read it back;
 *  - with none configured and any other database, the switch refuses to start.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { SwitchError } from '../errors.js';
import type { SwitchConfig } from './config.js';

/** The key earlier versions used when none was configured: known to everyone, never accepted. */
export const PUBLISHED_DEV_PAN_HASH_KEY = 'dev-only-pan-hash-key-change-me';
export const PAN_HASH_KEY_FILE = 'pan-hash.key';

/** `data/pan-hash.key`: beside the embedded database's data directory (`database.dataDir`, default data/pg). */
export function panHashKeyFile(cfg: Pick<SwitchConfig, 'database'>): string {
  return path.join(path.dirname(path.resolve(cfg.database.dataDir)), PAN_HASH_KEY_FILE);
}

const HOW = 'set PAN_HASH_KEY or panHashKey to a random secret of 32 characters or more, e.g. `openssl rand -base64 32`';

/** The key to use, or a SwitchError naming why there is none. Logs once when it generates the key file. */
export async function resolvePanHashKey(cfg: Pick<SwitchConfig, 'database' | 'panHashKey'>, log: Pick<Logger, 'info'>): Promise<string> {
  if (cfg.panHashKey === PUBLISHED_DEV_PAN_HASH_KEY) {
    throw new SwitchError('SW_ERR_PAN_HASH_KEY', { reason: 'panHashKey is the published development key, which makes PAN hashes reversible', fix: HOW });
  }
  if (cfg.panHashKey) return cfg.panHashKey;
  if (cfg.database.url) {
    throw new SwitchError('SW_ERR_PAN_HASH_KEY', {
      reason: 'no PAN hash key is configured, and the database is not the embedded one',
      fix: `${HOW}; keep it with the database: its PAN hashes depend on it`,
    });
  }
  const file = panHashKeyFile(cfg);
  let text: string | null = null;
  try {
    const st = await fs.stat(file);
    if ((st.mode & 0o077) !== 0) {
      throw new SwitchError('SW_ERR_PAN_HASH_KEY', {
        reason: `${file} can be read by other users (mode ${(st.mode & 0o777).toString(8)})`,
        fix: `chmod 600 ${file}`,
      });
    }
    text = (await fs.readFile(file, 'utf8')).trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      if (e instanceof SwitchError) throw e;
      throw new SwitchError(
        'SW_ERR_PAN_HASH_KEY',
        { reason: `${file} cannot be read (${(e as Error).message})`, fix: `make it readable by the switch's user, or ${HOW}` },
        { cause: e },
      );
    }
  }
  if (text !== null) {
    if (text.length < 16 || text === PUBLISHED_DEV_PAN_HASH_KEY) {
      throw new SwitchError('SW_ERR_PAN_HASH_KEY', {
        reason: `${file} does not hold a usable key (16 characters or more, not the development key)`,
        fix: `npm run reset to start afresh, or ${HOW}`,
      });
    }
    return text;
  }
  const key = crypto.randomBytes(32).toString('base64url');
  await fs.mkdir(path.dirname(file), { recursive: true });
  try {
    await fs.writeFile(file, key + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    // another process of this checkout wrote it first: use that one
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return resolvePanHashKey(cfg, log);
    throw new SwitchError(
      'SW_ERR_PAN_HASH_KEY',
      { reason: `${file} cannot be written (${(e as Error).message})`, fix: `make ${path.dirname(file)} writable, or ${HOW}` },
      { cause: e },
    );
  }
  log.info({ file }, `PAN hash key generated and kept in ${file} (mode 0600): keep it with the embedded database, its PAN hashes depend on it`);
  return key;
}
