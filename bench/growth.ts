/**
 * npm run bench:growth [-- --transactions 10000000 --duration 8 --warmup 2 --connections 8 --depth 64]
 *
 * Does the authorization path slow down as the tables grow? Saturation (the bench:e2e method: PSP → switch →
 * zero-latency simulators → switch → PSP, durable holds) on empty tables, then again after `transactions`
 * earlier authorizations are bulk-loaded into today's partitions (the worst case: one busy day), each with
 * its intent, its answer and its capture, and its ledger plan with two postings, committed, and the balance
 * changes they posted: the loaded rows pass the audit.
 *
 * Prints a table and, as its last line, {"empty_per_s":…,"grown_per_s":…,"ratio":…,"transactions":…}.
 * Needs ~1.5 GB of disk per million transactions (tables, indexes and WAL); about 10 minutes for 10 million.
 */
import pg from 'pg';
import { database, Load, printTable, saturation, startBenchSwitch, type Rows } from './harness.js';
import { parseCli } from '../src/cli/args.js';

async function bulkLoad(url: string, n: number, rows: Rows): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const t0 = performance.now();
    const now = Date.now();
    // earlier than anything the timed run writes: ids, duplicate keys (DE7 first) and RRNs sort before it
    const earlier = now - 3_600_000;
    const idPrefix = Math.floor(earlier).toString(36);
    const d = new Date(earlier);
    const p2 = (x: number) => String(x).padStart(2, '0');
    const de7 = `${p2(d.getUTCMonth() + 1)}${p2(d.getUTCDate())}${p2(d.getUTCHours())}${p2(d.getUTCMinutes())}${p2(d.getUTCSeconds())}`;
    const day = d.toISOString().slice(0, 10);
    // the accounts the probe and the warm-up used (which acquirer depends on the hour: rule night-eur)
    const { rows: acc } = await c.query<{ code: string; id: string }>(
      `select code, id::text from ledger_account where code like 'acquirer:%:978' or code in ('merchant:SHOP00000000001:978', 'fees:978') order by code`,
    );
    const acqRow = acc.find((a) => a.code.startsWith('acquirer:'));
    const id = (code: string) => acc.find((a) => a.code === code)?.id;
    const [acq, mer, fee] = [acqRow?.id, id('merchant:SHOP00000000001:978'), id('fees:978')];
    if (!acq || !mer || !fee) throw new Error('payment accounts missing: the probe should have created them');
    const acquirer = acqRow!.code.split(':')[1]!;
    const chunk = 500_000;
    for (let from = 0; from < n; from += chunk) {
      const to = Math.min(n, from + chunk) - 1;
      const txn = `$1 || lpad(g::text, 10, '0')`;
      await c.query('begin');
      await c.query(
        `insert into switch_intent (txn_id, attempt, kind, psp, mti, psp_stan, psp_terminal, psp_merchant, psp_dt, dup_key, amount, currency,
                                    pan_hash, pan_masked, acquirer, terminal, acq_stan, acq_rrn, acq_dt, acq_tid, acq_mid, rules_version, explanation,
                                    created_at, day)
         select ${txn}, 1, 'auth', 'psp-alpha', '0100', lpad((g % 1000000)::text, 6, '0'), 'G' || lpad((g / 1000000)::text, 7, '0'),
                'SHOP00000000001', $2, $2 || '|0100|' || lpad((g % 1000000)::text, 6, '0') || '|G' || lpad((g / 1000000)::text, 7, '0') || '|SHOP00000000001',
                1000 + g % 298000, '978', md5(g::text) || md5((g + 1)::text), '411111******1111', 'acq-a', 'a-eur-1',
                lpad((g % 1000000)::text, 6, '0'), '0' || lpad(g::text, 11, '0'), $2, 'TA000001', 'MA0000000000001', 1, null,
                now() - interval '1 hour', $3::date
           from generate_series($4::bigint, $5::bigint) as g`,
        [idPrefix, de7, day, from, to],
      );
      await c.query(
        `insert into switch_outcome (txn_id, seq, state, response_code, auth_code, amount, at, day)
         select ${txn}, 1, 'approved', '00', 'A12345', 1000 + g % 298000, now() - interval '1 hour', $2::date from generate_series($3::bigint, $4::bigint) as g
         union all
         select ${txn}, 2, 'captured', null, null, 1000 + g % 298000, now() - interval '30 minutes', $2::date from generate_series($3::bigint, $4::bigint) as g`,
        [idPrefix, day, from, to],
      );
      await c.query(
        `insert into ledger_plan (id, state, kind, last_batch, last_step, hold_hash, close_hash, acquirer, terminal, merchant, currency, amount, fee,
                                  final_amount, final_fee, created_at, closed_at, day)
         select ${txn}, 'COMMIT', 'payment', 1, 2, '\\x00', '\\x01', $5, 'a-eur-1', 'SHOP00000000001', 978, 1000 + g % 298000, 1 + g % 100,
                1000 + g % 298000, 1 + g % 100, now() - interval '1 hour', now() - interval '30 minutes', $2::date
           from generate_series($3::bigint, $4::bigint) as g`,
        [idPrefix, day, from, to, acquirer],
      );
      await c.query(
        `insert into ledger_posting (plan_id, batch_id, seq, from_account, to_account, amount, currency, day)
         select ${txn}, 1, 0, $5::bigint, $6::bigint, 1000 + g % 298000, 978, $2::date from generate_series($3::bigint, $4::bigint) as g
         union all
         select ${txn}, 1, 1, $6::bigint, $7::bigint, 1 + g % 100, 978, $2::date from generate_series($3::bigint, $4::bigint) as g`,
        [idPrefix, day, from, to, acq, mer, fee],
      );
      await c.query(
        `insert into ledger_journal (plan_id, step, op, batch_id, request_hash, at, day)
         select ${txn}, 2, 'commit', null, '\\x01', now() - interval '30 minutes', $2::date from generate_series($3::bigint, $4::bigint) as g`,
        [idPrefix, day, from, to],
      );
      // what those committed plans posted, as the hot path would have: one balance change per account
      await c.query(
        `insert into ledger_balance_delta (account_id, currency, d_own, d_min, d_max)
         select $1::bigint, 978, -sum(1000 + g % 298000), 0, 0 from generate_series($4::bigint, $5::bigint) as g
         union all select $2::bigint, 978, sum(1000 + g % 298000 - (1 + g % 100)), 0, 0 from generate_series($4::bigint, $5::bigint) as g
         union all select $3::bigint, 978, sum(1 + g % 100), 0, 0 from generate_series($4::bigint, $5::bigint) as g`,
        [acq, mer, fee, from, to],
      );
      await c.query('commit');
      process.stderr.write(
        `loaded ${(to + 1).toLocaleString('en-US')} of ${n.toLocaleString('en-US')} transactions (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`,
      );
    }
    // as autovacuum and the checkpointer would have it on tables that grew over a day
    for (const t of ['switch_intent', 'switch_outcome', 'ledger_plan', 'ledger_posting', 'ledger_journal']) await c.query(`vacuum (analyze) ${t}`);
    await c.query('checkpoint');
    const { rows: size } = await c.query<{ gb: string }>(
      `select round(sum(pg_total_relation_size(c.oid)) / 1e9, 1)::text as gb from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = current_schema() and c.relkind = 'r'`,
    );
    rows.push([
      'bulk load',
      `${n.toLocaleString('en-US')} earlier transactions (7 rows each) in ${((performance.now() - t0) / 1000).toFixed(0)} s; schema now ${size[0]?.gb} GB`,
    ]);
  } finally {
    await c.end();
  }
}

async function main(): Promise<void> {
  const { values } = parseCli({
    name: 'bench:growth',
    usage: `usage: npm run bench:growth [-- --transactions 10000000 --duration 8 --warmup 2 --connections 8 --depth 64]

Saturation (the bench:e2e method) on empty tables, then after --transactions earlier authorizations are
bulk-loaded into today's partitions; a table, then one JSON line. Needs ~1.5 GB of disk per million
transactions; about 10 minutes for 10 million. Database: as bench:e2e.
options:
  --transactions N  earlier transactions loaded (default 10000000)
  --duration S      timed seconds per saturation run (default 8)
  --warmup S        seconds before timing (default 2)
  --connections N   PSP connections (default 8)
  --depth N         requests in flight per connection (default 64)
  -h, --help        this text`,
    options: {
      transactions: { type: 'string', default: '10000000' },
      duration: { type: 'string', default: '8' },
      warmup: { type: 'string', default: '2' },
      connections: { type: 'string', default: '8' },
      depth: { type: 'string', default: '64' },
    },
  });
  const n = Number(values.transactions);
  const o = {
    connections: Number(values.connections),
    depth: Number(values.depth),
    warmupMs: Number(values.warmup) * 1000,
    durationMs: Number(values.duration) * 1000,
  };
  const rows: Rows = [];
  const load = new Load();
  const db = await database();
  let empty = NaN;
  let grown = NaN;
  try {
    const b = await startBenchSwitch(load, db.serverUrl);
    try {
      // the JIT and the caches warm on a first run (its ~50,000 rows count as "empty")
      await saturation(load, b, { ...o, durationMs: 5_000, keyBase: 600_000, label: 'warm-up' });
      const e = await saturation(load, b, { ...o, keyBase: 0, label: 'empty tables' });
      empty = e.perS;
      rows.push(...e.rows);
      await bulkLoad(b.url, n, rows);
      await saturation(load, b, { ...o, durationMs: 5_000, keyBase: 700_000, label: 'warm-up again' });
      const g = await saturation(load, b, { ...o, keyBase: 300_000, label: `after ${(n / 1e6).toLocaleString('en-US')} M transactions` });
      grown = g.perS;
      rows.push(...g.rows);
      rows.push(['ratio grown / empty', (grown / empty).toFixed(3)]);
    } finally {
      await b.close();
    }
  } finally {
    await load.close();
    await db.stop();
  }
  printTable(rows);
  process.stdout.write(
    JSON.stringify({ empty_per_s: Math.round(empty), grown_per_s: Math.round(grown), ratio: Math.round((grown / empty) * 1000) / 1000, transactions: n }) +
      '\n',
  );
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench:growth failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
