/**
 * Archiving a day of the ledger (docs/retention.md): when no plan of that day is still in HOLD, its plans,
 * postings and journal are written to archive files, the posted balance they contributed is added to
 * ledger_archived_balance (so ledger:check still adds up), and the day's partitions are dropped, all in one
 * transaction after the files are on disk.
 */
import path from 'node:path';
import type pg from 'pg';
import { archiveQuery, daysBefore, partitionName, type DayArchive } from '../store/archive-file.js';
import { inTransaction } from '../store/tx.js';

const TABLES = ['ledger_plan', 'ledger_posting', 'ledger_journal'] as const;

export async function ledgerDaysBefore(pool: pg.Pool, before: string): Promise<string[]> {
  return daysBefore(pool, 'ledger_plan', before);
}

export async function archiveLedgerDay(pool: pg.Pool, day: string, dir: string, o: { dryRun?: boolean } = {}): Promise<DayArchive> {
  return inTransaction(pool, async (client) => {
    const { rows: open } = await client.query<{ n: number }>(`select count(*)::int as n from ledger_plan where day = $1::date and state = 'HOLD'`, [day]);
    if (open[0]!.n > 0) return { day, archived: false, reason: `${open[0]!.n} plan(s) still in HOLD`, rows: {} };
    if (o.dryRun) return { day, archived: false, reason: 'dry run: would be archived', rows: {} };
    const rows: Record<string, number> = {};
    for (const t of TABLES) {
      rows[t] = await archiveQuery(client, `select * from ${t} where day = $1::date`, [day], path.join(dir, `${partitionName(t, day)}.ndjson.gz`));
    }
    // what the day's committed plans put into posted balances stays counted by the audit
    await client.query(
      `insert into ledger_archived_balance (account_id, own)
       select x.acc, sum(x.v) from (
         select p.to_account as acc, p.amount as v from ledger_posting p join ledger_plan l on l.id = p.plan_id and l.day = p.day
          where p.day = $1::date and l.state = 'COMMIT'
         union all
         select p.from_account, -p.amount from ledger_posting p join ledger_plan l on l.id = p.plan_id and l.day = p.day
          where p.day = $1::date and l.state = 'COMMIT') x
       group by x.acc having sum(x.v) <> 0
       on conflict (account_id) do update set own = ledger_archived_balance.own + excluded.own`,
      [day],
    );
    await client.query('insert into ledger_archived_day (day, plans, postings, file) values ($1, $2, $3, $4)', [
      day,
      rows.ledger_plan,
      rows.ledger_posting,
      path.join(dir, `${partitionName('ledger_plan', day)}.ndjson.gz`),
    ]);
    for (const t of TABLES) await client.query(`drop table ${partitionName(t, day)}`);
    return { day, archived: true, rows };
  });
}
