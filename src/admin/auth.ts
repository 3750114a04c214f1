/**
 * Bearer tokens with roles. Config holds the sha256 of each token (never the token); a presented token is
 * hashed and compared with every entry in constant time, so neither the match position nor a prefix leaks.
 */
import crypto from 'node:crypto';
import { SwitchError } from '../errors.js';
import { ROLES, type Role, type TokenEntry } from './deps.js';

/** sha256 (hex) of a token: what config stores. */
export function hashToken(token: string): string {
  return crypto.createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A fresh random token (43 characters, base64url) and its hash. */
export function generateToken(): { token: string; sha256: string } {
  const token = crypto.randomBytes(32).toString('base64url');
  return { token, sha256: hashToken(token) };
}

/** Validate token entries from config; unknown keys and bad values are refused with the entry's path. */
export function parseTokens(v: unknown, root = 'admin.tokens'): TokenEntry[] {
  if (!Array.isArray(v)) throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: root, reason: 'must be an array' });
  const names = new Set<string>();
  return v.map((e, i) => {
    const p = `${root}[${i}]`;
    if (!e || typeof e !== 'object' || Array.isArray(e)) throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: p, reason: 'must be an object' });
    const o = e as Record<string, unknown>;
    for (const k of Object.keys(o))
      if (!['name', 'role', 'sha256', 'expires'].includes(k)) throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: `${p}.${k}`, reason: 'unknown key' });
    if (typeof o.name !== 'string' || !/^[A-Za-z0-9._@-]{1,64}$/.test(o.name))
      throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: `${p}.name`, reason: 'must be 1..64 of A-Z a-z 0-9 . _ @ -' });
    if (names.has(o.name)) throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: `${p}.name`, reason: 'duplicate name' });
    names.add(o.name);
    if (typeof o.role !== 'string' || !(ROLES as readonly string[]).includes(o.role))
      throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: `${p}.role`, reason: `must be one of ${ROLES.join(', ')}` });
    if (typeof o.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(o.sha256))
      throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: `${p}.sha256`, reason: 'must be 64 lowercase hex characters (sha256 of the token)' });
    if (o.expires !== undefined && o.expires !== '' && (typeof o.expires !== 'string' || Number.isNaN(Date.parse(o.expires))))
      throw new SwitchError('SW_ERR_CONFIG_INVALID', { path: `${p}.expires`, reason: 'must be an ISO 8601 time (e.g. 2027-06-30T00:00:00Z) or empty' });
    const expiresAt = typeof o.expires === 'string' && o.expires !== '' ? new Date(o.expires).toISOString() : undefined;
    return { name: o.name, role: o.role as Role, sha256: o.sha256, ...(expiresAt ? { expiresAt } : {}) };
  });
}

/** ADMIN_TOKENS="name:role:sha256,name:role:sha256" (e.g. from a secret store) → entries. */
export function tokensFromEnv(value: string | undefined): TokenEntry[] {
  if (!value) return [];
  return parseTokens(
    value
      .split(',')
      .filter((s) => s.trim() !== '')
      .map((s) => {
        const [name, role, sha256, ...expires] = s.trim().split(':');
        return { name, role, sha256, expires: expires.join(':') };
      }),
    'ADMIN_TOKENS',
  );
}

export interface Principal {
  name: string;
  role: Role;
}

/** The entry whose hash matches the presented token, or null; every entry is compared. Expiry and revocation are the caller's. */
export function authenticate(tokens: readonly TokenEntry[], presented: string): TokenEntry | null {
  const h = Buffer.from(hashToken(presented), 'hex');
  let found: TokenEntry | null = null;
  for (const t of tokens) {
    const eq = crypto.timingSafeEqual(h, Buffer.from(t.sha256, 'hex'));
    if (eq && found === null) found = t;
  }
  return found;
}

/** What a route needs: read (any role), rules (risk-editor), ops (operator), rules-rollback (either), approve (approver). */
export type Permission = 'read' | 'rules' | 'ops' | 'rules-rollback' | 'approve';

const GRANTS: Record<Role, ReadonlySet<Permission>> = {
  viewer: new Set(['read']),
  'risk-editor': new Set(['read', 'rules', 'rules-rollback']),
  operator: new Set(['read', 'ops', 'rules-rollback']),
  approver: new Set(['read', 'approve']),
};

export function allowed(role: Role, p: Permission): boolean {
  return GRANTS[role].has(p);
}
