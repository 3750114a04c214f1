/**
 * Archive files for day partitions (docs/retention.md): the rows of a query, one JSON object per line,
 * gzip-compressed, read through a server-side cursor so a day of a billion rows never sits in memory, and
 * fsynced before the caller drops what it archived.
 */
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import type pg from 'pg';

const FETCH = 10_000;

/** What archiving one day partition did (the switch's and the ledger's alike). */
export interface DayArchive {
  day: string;
  archived: boolean;
  /** Why a day was kept. */
  reason?: string;
  /** Rows written per table. */
  rows: Record<string, number>;
}

/**
 * Writes the rows of `sql` (run on `client`, inside the caller's transaction) to `file` (.ndjson.gz);
 * returns the number of rows. The file is complete and on disk when this resolves.
 */
export async function archiveQuery(client: pg.PoolClient, sql: string, values: unknown[], file: string): Promise<number> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.partial`;
  const gz = createGzip();
  const out = createWriteStream(tmp, { mode: 0o600 });
  const done = new Promise<void>((resolve, reject) => {
    out.on('finish', resolve);
    out.on('error', reject);
    gz.on('error', reject);
  });
  gz.pipe(out);
  const cursor = `archive_${Math.random().toString(36).slice(2, 10)}`;
  let n = 0;
  try {
    await client.query(`declare ${cursor} no scroll cursor for select row_to_json(r)::text as j from (${sql}) r`, values);
    for (;;) {
      const { rows } = await client.query<{ j: string }>(`fetch ${FETCH} from ${cursor}`);
      if (rows.length === 0) break;
      n += rows.length;
      if (!gz.write(rows.map((r) => r.j).join('\n') + '\n')) await once(gz, 'drain');
    }
    await client.query(`close ${cursor}`);
    gz.end();
    await done;
    const fh = await fs.open(tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, file);
    const dir = await fs.open(path.dirname(file), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    return n;
  } catch (e) {
    gz.destroy();
    out.destroy();
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/** Day partitions of `table` (named table_YYYYMMDD) before `before` (YYYY-MM-DD), oldest first. */
export async function daysBefore(client: Pick<pg.PoolClient, 'query'>, table: string, before: string): Promise<string[]> {
  const { rows } = await client.query<{ day: string }>(
    `select to_char(to_date(right(c.relname, 8), 'YYYYMMDD'), 'YYYY-MM-DD') as day
       from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent
       join pg_namespace n on n.oid = p.relnamespace
      where p.relname = $1 and n.nspname = current_schema() and c.relname ~ '_[0-9]{8}$'
        and to_date(right(c.relname, 8), 'YYYYMMDD') < $2::date
      order by 1`,
    [table, before],
  );
  return rows.map((r) => r.day);
}

export const partitionName = (table: string, day: string): string => `${table}_${day.replace(/-/g, '')}`;
