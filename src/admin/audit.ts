/** The admin audit log: who changed what, when, with hashes of the state before and after. */
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type pg from 'pg';
import { migrate, type MigrateResult } from '../store/migrate.js';

export const ADMIN_MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export function migrateAdmin(pool: pg.Pool): Promise<MigrateResult> {
  return migrate(pool, { module: 'admin', dir: ADMIN_MIGRATIONS_DIR });
}

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  role: string;
  action: string;
  target: string;
  beforeHash: string | null;
  afterHash: string | null;
  detail: Record<string, unknown>;
}

export interface AuditRecord {
  actor: string;
  role: string;
  action: string;
  target: string;
  beforeHash?: string | null;
  afterHash?: string | null;
  detail?: Record<string, unknown>;
}

/** sha256 (hex) of a value's JSON (bigints as strings). */
export function stateHash(v: unknown): string {
  return crypto
    .createHash('sha256')
    .update(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? 'null')
    .digest('hex');
}

export class AuditLog {
  constructor(private readonly pool: pg.Pool) {}

  async record(r: AuditRecord): Promise<AuditEntry> {
    const q = await this.pool.query(
      `insert into admin_audit_log (actor, role, action, target, before_hash, after_hash, detail)
       values ($1, $2, $3, $4, $5, $6, $7) returning id, at, actor, role, action, target, before_hash, after_hash, detail`,
      [r.actor, r.role, r.action, r.target, r.beforeHash ?? null, r.afterHash ?? null, JSON.stringify(r.detail ?? {})],
    );
    return row(q.rows[0]);
  }

  /**
   * Audit a change before making it: the entry is written first, so no change that routes traffic can happen
   * unaudited; if the change then fails, a second entry `<action>.failed` (with the error code) follows.
   */
  async change<T>(r: AuditRecord, apply: () => Promise<T>): Promise<T> {
    await this.record(r);
    try {
      return await apply();
    } catch (e) {
      const code = e && typeof e === 'object' && 'code' in e && typeof (e as { code: unknown }).code === 'string' ? (e as { code: string }).code : 'error';
      await this.record({ ...r, action: `${r.action}.failed`, afterHash: r.beforeHash ?? null, detail: { ...(r.detail ?? {}), error: code } }).catch(
        () => undefined,
      );
      throw e;
    }
  }

  async list(f: { limit: number; actor?: string; action?: string; beforeId?: number }): Promise<AuditEntry[]> {
    const q = await this.pool.query(
      `select id, at, actor, role, action, target, before_hash, after_hash, detail from admin_audit_log
        where ($1::text is null or actor = $1) and ($2::text is null or action = $2) and ($3::bigint is null or id < $3)
        order by id desc limit $4`,
      [f.actor ?? null, f.action ?? null, f.beforeId ?? null, f.limit],
    );
    return q.rows.map(row);
  }
}

function row(r: Record<string, unknown>): AuditEntry {
  return {
    id: Number(r.id),
    at: (r.at as Date).toISOString(),
    actor: r.actor as string,
    role: r.role as string,
    action: r.action as string,
    target: r.target as string,
    beforeHash: (r.before_hash as string | null) ?? null,
    afterHash: (r.after_hash as string | null) ?? null,
    detail: (r.detail as Record<string, unknown>) ?? {},
  };
}
