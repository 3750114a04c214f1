/**
 * TLS of the admin server (docs/admin.md, "TLS"): the certificate chain and the private key read from their PEM
 * files once at start, checked before the server listens, and the oldest protocol version accepted (never older
 * than TLS 1.2). A file that cannot be read or does not hold what it should is a start error naming the file
 * and its config key; the key's bytes never reach an error or a log line.
 */
import fs from 'node:fs/promises';
import tls from 'node:tls';
import { SwitchError } from '../errors.js';

/** The versions the admin server may be set to accept at the least: TLS 1.2 is the floor. */
export const ADMIN_TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;
export type AdminTlsVersion = (typeof ADMIN_TLS_VERSIONS)[number];

/** `admin.tls` of the switch config (src/switch/config.ts). */
export interface AdminTlsConfig {
  certFile: string;
  keyFile: string;
  /** Default TLSv1.2. */
  minVersion?: AdminTlsVersion;
}

/** What the https server is built with. */
export interface AdminTlsOptions {
  cert: Buffer;
  key: Buffer;
  minVersion: AdminTlsVersion;
}

const fail = (path: string, key: string, reason: string, cause?: unknown): SwitchError =>
  new SwitchError('SW_ERR_ADMIN_TLS', { path, key, reason }, cause === undefined ? {} : { cause });

async function readPem(path: string, key: string): Promise<Buffer> {
  try {
    return await fs.readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (code ?? 'unreadable');
    throw fail(path, key, `cannot be read (${reason})`, e);
  }
}

/** openssl's reason, without anything of the file's content (its messages name routines, not bytes). */
const opensslReason = (e: unknown): string =>
  ((e as Error).message || 'invalid')
    .replace(/^error:[0-9A-F]+:/i, '')
    .replace(/[0-9a-f]{16,}/gi, '[hex]')
    .slice(0, 120);

/** Reads and checks the files: each parses as PEM of its kind, and the key belongs to the certificate. */
export async function loadAdminTls(c: AdminTlsConfig, at = 'admin.tls'): Promise<AdminTlsOptions> {
  const minVersion = c.minVersion ?? 'TLSv1.2';
  if (!(ADMIN_TLS_VERSIONS as readonly string[]).includes(minVersion)) {
    throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: `${at}.minVersion`, reason: `must be one of ${ADMIN_TLS_VERSIONS.join(', ')}` });
  }
  const cert = await readPem(c.certFile, `${at}.certFile`);
  const key = await readPem(c.keyFile, `${at}.keyFile`);
  try {
    tls.createSecureContext({ cert });
  } catch (e) {
    throw fail(c.certFile, `${at}.certFile`, `is not a PEM certificate (${opensslReason(e)})`, e);
  }
  try {
    tls.createSecureContext({ key });
  } catch (e) {
    throw fail(c.keyFile, `${at}.keyFile`, `is not a PEM private key without a passphrase (${opensslReason(e)})`, e);
  }
  try {
    tls.createSecureContext({ cert, key, minVersion });
  } catch (e) {
    throw fail(c.keyFile, `${at}.keyFile`, `does not belong to the certificate in ${c.certFile} (${opensslReason(e)})`, e);
  }
  return { cert, key, minVersion };
}
