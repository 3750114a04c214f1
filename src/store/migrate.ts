/**
 * Forward-only SQL migrations, per module. Each module keeps its own folder of `NNN_name.sql` files; applied
 * files are recorded as (module, file, checksum) in `schema_migrations` in the current schema (search_path).
 * The whole run holds a session advisory lock keyed on the schema, so instances starting together apply each
 * file exactly once; a file changed after it was applied is an error (add a new file instead).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import crypto from 'node:crypto';
import type pg from 'pg';
import { SwitchError } from '../errors.js';

export interface MigrateOptions {
  /** Module name, e.g. 'ledger', 'switch', 'routing'. */
  module: string;
  /** Folder holding the module's *.sql files, applied in file-name order. */
  dir: string;
}

export interface MigrateResult {
  module: string;
  applied: string[];
  skipped: string[];
}

const LOCK_NAMESPACE = 0x5357; // 'SW'

export async function migrate(pool: pg.Pool, opts: MigrateOptions): Promise<MigrateResult> {
  const files = (await fs.readdir(opts.dir)).filter((f) => f.endsWith('.sql')).sort();
  const scripts = await Promise.all(
    files.map(async (file) => {
      const sql = await fs.readFile(path.join(opts.dir, file), 'utf8');
      return { file, sql, checksum: crypto.createHash('sha256').update(sql).digest('hex') };
    }),
  );
  const client = await pool.connect();
  let broken = false;
  const onError = () => {
    broken = true;
  };
  client.on('error', onError);
  try {
    await client.query('select pg_advisory_lock($1, hashtext(current_schema()))', [LOCK_NAMESPACE]);
    try {
      await client.query(`create table if not exists schema_migrations (
        module text not null, file text not null, checksum text not null,
        applied_at timestamptz not null default now(), primary key (module, file))`);
      const { rows } = await client.query<{ file: string; checksum: string }>('select file, checksum from schema_migrations where module = $1', [opts.module]);
      const done = new Map(rows.map((r) => [r.file, r.checksum]));
      const result: MigrateResult = { module: opts.module, applied: [], skipped: [] };
      for (const s of scripts) {
        const prev = done.get(s.file);
        if (prev !== undefined) {
          if (prev !== s.checksum) throw new SwitchError('SW_ERR_MIGRATION_CHECKSUM', { module: opts.module, file: s.file });
          result.skipped.push(s.file);
          continue;
        }
        try {
          await client.query('begin');
          await client.query(s.sql);
          await client.query('insert into schema_migrations (module, file, checksum) values ($1, $2, $3)', [opts.module, s.file, s.checksum]);
          await client.query('commit');
        } catch (e) {
          await client.query('rollback').catch(() => {
            broken = true;
          });
          throw new SwitchError(
            'SW_ERR_MIGRATION_FAILED',
            { module: opts.module, file: s.file, reason: e instanceof Error ? e.message.slice(0, 300) : 'error' },
            { cause: e },
          );
        }
        result.applied.push(s.file);
      }
      return result;
    } finally {
      await client.query('select pg_advisory_unlock($1, hashtext(current_schema()))', [LOCK_NAMESPACE]).catch(() => {
        broken = true;
      });
    }
  } finally {
    client.removeListener('error', onError);
    client.release(broken ? true : undefined);
  }
}
