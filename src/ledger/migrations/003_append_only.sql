-- Write path without hot locks and without row triggers (docs/ledger.md, "Write path and growth"):
--  * plans, postings and journal are partitioned by `day` (the plan's UTC creation day); a plan's postings and
--    journal live in its partition, so a day can be archived and dropped as a whole (docs/retention.md);
--  * balance changes are appended to ledger_balance_delta, one row per account per statement, and folded into
--    ledger_account by the folder (src/ledger/folder.ts); balance = account row + Σ its deltas
--    (+ ledger_archived_balance for days archived away);
--  * every check is statement-level (transition tables): no row trigger, no foreign key on a hot table; keys
--    compare bytewise (collate "C"), whatever the database's collation.

-- the old row-level triggers and the functions only they used
drop trigger ledger_plan_transition on ledger_plan;
drop function ledger_plan_transition();
drop trigger ledger_plan_insert_check on ledger_plan;
drop trigger ledger_posting_check on ledger_posting;
drop trigger ledger_posting_append_only on ledger_posting;
drop trigger ledger_journal_append_only on ledger_journal;
drop trigger ledger_plan_no_delete on ledger_plan;

alter table ledger_plan rename to ledger_plan_v1;
alter table ledger_posting rename to ledger_posting_v1;
alter table ledger_journal rename to ledger_journal_v1;
alter index ledger_plan_pkey rename to ledger_plan_v1_pkey;
alter index ledger_posting_pkey rename to ledger_posting_v1_pkey;
alter index ledger_journal_pkey rename to ledger_journal_v1_pkey;

create table ledger_plan (
  id            text collate "C" not null check (octet_length(id) between 1 and 128),
  state         text not null check (state in ('HOLD', 'COMMIT', 'ROLLBACK')),
  kind          text not null check (kind in ('payment', 'postings')),
  last_batch    int not null check (last_batch >= 1),
  last_step     int not null check (last_step >= 1),
  hold_hash     bytea not null,
  close_hash    bytea,
  acquirer      text,
  terminal      text,
  merchant      text,
  currency      smallint,
  amount        bigint check (amount >= 0),
  fee           bigint check (fee >= 0),
  final_amount  bigint check (final_amount >= 0),
  final_fee     bigint check (final_fee >= 0),
  pan_hash      text check (pan_hash is null or (length(pan_hash) between 16 and 128 and translate(pan_hash, '0123456789abcdef', '') = '')),
  pan_masked    text check (pan_masked is null or length(pan_masked) - length(translate(pan_masked, '0123456789', '')) <= 10),
  created_at    timestamptz not null default now(),
  closed_at     timestamptz,
  day           date not null default (now() at time zone 'utc')::date,
  check ((state = 'HOLD') = (close_hash is null)),
  primary key (id, day)
) partition by range (day);

create table ledger_posting (
  plan_id       text collate "C" not null,
  batch_id      int not null check (batch_id >= 1),
  seq           int not null check (seq >= 0),
  from_account  bigint not null,
  to_account    bigint not null,
  amount        bigint not null check (amount > 0),
  currency      smallint not null,
  day           date not null default (now() at time zone 'utc')::date,
  primary key (plan_id, batch_id, seq, day),
  check (from_account <> to_account)
) partition by range (day);

create table ledger_journal (
  plan_id       text collate "C" not null,
  step          int not null check (step >= 1),
  op            text not null check (op in ('hold', 'batch', 'commit', 'rollback')),
  batch_id      int,
  request_hash  bytea not null,
  at            timestamptz not null default now(),
  day           date not null default (now() at time zone 'utc')::date,
  primary key (plan_id, step, day),
  check ((op in ('hold', 'batch')) = (batch_id is not null))
) partition by range (day);

-- Balance changes not yet folded into ledger_account: one row per account per statement.
-- `xact` groups the rows of one transaction, which the folder moves as a whole (each transaction's changes
-- conserve money, so folding whole transactions keeps every account UPDATE conserving too).
create table ledger_balance_delta (
  xact        bigint not null default (pg_current_xact_id()::text::bigint),
  account_id  bigint not null,
  currency    smallint not null,
  d_own       bigint not null,
  d_min       bigint not null,
  d_max       bigint not null
);
create index ledger_balance_delta_account on ledger_balance_delta (account_id);

-- Posted balance contributed by days that were archived and dropped (docs/retention.md).
create table ledger_archived_balance (
  account_id  bigint primary key,
  own         bigint not null default 0
);
create table ledger_archived_day (
  day         date primary key,
  plans       bigint not null,
  postings    bigint not null,
  file        text not null,
  archived_at timestamptz not null default now()
);

-- Holds written by a caller's statement (src/ledger/store.ts holdSql), one parameter per kind of row.
create type ledger_hold_in as (id text, day date, hh bytea, ch bytea, acq text, term text, mer text, cur smallint, amt bigint, fee bigint,
                               ph text, pm text);
create type ledger_hold_posting_in as (pid text, day date, seq int, fr bigint, tt bigint, amt bigint, cur smallint);
create type ledger_hold_commit_in as (pid text, day date, h bytea);
create type ledger_hold_delta_in as (pid text, acc bigint, cur smallint, o bigint, mi bigint, ma bigint);

-- Day partitions of the three partitioned tables, for [from, to] inclusive. Idempotent.
create function ledger_day_partitions(from_day date, to_day date) returns int language plpgsql as $$
declare d date := from_day; n int := 0; t text;
begin
  while d <= to_day loop
    foreach t in array array['ledger_plan', 'ledger_posting', 'ledger_journal'] loop
      if to_regclass(format('%I', t || '_' || to_char(d, 'YYYYMMDD'))) is null then
        execute format('create table %I partition of %I for values from (%L) to (%L)',
                       t || '_' || to_char(d, 'YYYYMMDD'), t, d, d + 1);
        n := n + 1;
      end if;
    end loop;
    d := d + 1;
  end loop;
  return n;
end $$;

select ledger_day_partitions(
  least((select min(created_at at time zone 'utc')::date from ledger_plan_v1), (now() at time zone 'utc')::date - 1),
  (now() at time zone 'utc')::date + 7);

insert into ledger_plan (id, state, kind, last_batch, last_step, hold_hash, close_hash, acquirer, terminal, merchant, currency,
                         amount, fee, final_amount, final_fee, pan_hash, pan_masked, created_at, closed_at, day)
  select id, state, kind, last_batch, last_step, hold_hash, close_hash, acquirer, terminal, merchant, currency,
         amount, fee, final_amount, final_fee, pan_hash, pan_masked, created_at, closed_at, (created_at at time zone 'utc')::date
    from ledger_plan_v1;
insert into ledger_posting (plan_id, batch_id, seq, from_account, to_account, amount, currency, day)
  select p.plan_id, p.batch_id, p.seq, p.from_account, p.to_account, p.amount, p.currency, (l.created_at at time zone 'utc')::date
    from ledger_posting_v1 p join ledger_plan_v1 l on l.id = p.plan_id;
insert into ledger_journal (plan_id, step, op, batch_id, request_hash, at, day)
  select j.plan_id, j.step, j.op, j.batch_id, j.request_hash, j.at, (l.created_at at time zone 'utc')::date
    from ledger_journal_v1 j join ledger_plan_v1 l on l.id = j.plan_id;
drop table ledger_plan_v1, ledger_posting_v1, ledger_journal_v1;

-- append-only (statement level; partitions are dropped only by the archive command) ----------------------
create trigger ledger_posting_append_only before update or delete or truncate on ledger_posting
  for each statement execute function ledger_append_only();
create trigger ledger_journal_append_only before update or delete or truncate on ledger_journal
  for each statement execute function ledger_append_only();
create trigger ledger_plan_no_delete before delete or truncate on ledger_plan
  for each statement execute function ledger_append_only();
create trigger ledger_archived_append_only before update or delete or truncate on ledger_archived_day
  for each statement execute function ledger_append_only();

-- plans: created in HOLD at batch 1 (or, for a hold committed in the same statement, COMMIT at step 2) -----
create or replace function ledger_plan_insert_check() returns trigger language plpgsql as $$
begin
  if exists (select 1 from new_rows where last_batch <> 1
               or not ((state = 'HOLD' and last_step = 1) or (state = 'COMMIT' and last_step = 2))) then
    raise exception 'ledger: a plan is created in HOLD with batch 1 (or committed at step 2)' using errcode = 'P0001';
  end if;
  return null;
end $$;
create trigger ledger_plan_insert_check after insert on ledger_plan
  referencing new table as new_rows for each statement execute function ledger_plan_insert_check();

-- plans: only HOLD -> HOLD (new batch) | COMMIT | ROLLBACK; identity immutable; batches only grow -------------
create function ledger_plan_transition_check() returns trigger language plpgsql as $$
declare bad record;
begin
  select o.id, o.state, n.state as new_state into bad from old_rows o join new_rows n on n.id = o.id and n.day = o.day
   where o.state <> 'HOLD' limit 1;
  if found then
    raise exception 'ledger: plan % is % (final); % refused', bad.id, bad.state, bad.new_state using errcode = 'P0001';
  end if;
  select o.id into bad from old_rows o join new_rows n on n.id = o.id and n.day = o.day
   where n.kind <> o.kind or n.hold_hash <> o.hold_hash or n.created_at <> o.created_at
      or n.acquirer is distinct from o.acquirer or n.terminal is distinct from o.terminal
      or n.merchant is distinct from o.merchant or n.currency is distinct from o.currency
      or n.amount is distinct from o.amount or n.fee is distinct from o.fee
      or n.pan_hash is distinct from o.pan_hash or n.pan_masked is distinct from o.pan_masked
   limit 1;
  if found then
    raise exception 'ledger: plan % identity is immutable', bad.id using errcode = 'P0001';
  end if;
  select o.id into bad from old_rows o join new_rows n on n.id = o.id and n.day = o.day
   where n.last_batch < o.last_batch or n.last_step < o.last_step limit 1;
  if found then
    raise exception 'ledger: plan % batches only grow', bad.id using errcode = 'P0001';
  end if;
  if (select count(*) from old_rows) <> (select count(*) from old_rows o join new_rows n on n.id = o.id and n.day = o.day) then
    raise exception 'ledger: plan identity is immutable (id or day changed)' using errcode = 'P0001';
  end if;
  return null;
end $$;
create trigger ledger_plan_transition_check after update on ledger_plan
  referencing old table as old_rows new table as new_rows for each statement execute function ledger_plan_transition_check();

-- postings: accounts exist and are of the posting's currency (what makes each batch sum to zero per currency)
create trigger ledger_posting_check after insert on ledger_posting
  referencing new table as new_rows for each statement execute function ledger_posting_check();

-- deltas: every statement's balance changes conserve money per currency ----------------------------------
create function ledger_delta_conserve() returns trigger language plpgsql as $$
declare bad record;
begin
  select currency, sum(d_own) as d_own, sum(d_min + d_max) as d_pending into bad from new_rows
   group by currency having sum(d_own) <> 0 or sum(d_min + d_max) <> 0 limit 1;
  if found then
    raise exception 'ledger: balance change does not conserve currency % (posted %, pending %)', bad.currency, bad.d_own, bad.d_pending
      using errcode = 'P0001';
  end if;
  select n.account_id, n.currency into bad from new_rows n left join ledger_account a on a.id = n.account_id
   where a.id is null or a.currency <> n.currency limit 1;
  if found then
    raise exception 'ledger: balance change names missing account % or mixes currencies', bad.account_id using errcode = 'P0001';
  end if;
  return null;
end $$;
create trigger ledger_delta_conserve after insert on ledger_balance_delta
  referencing new table as new_rows for each statement execute function ledger_delta_conserve();
create trigger ledger_delta_no_update before update or truncate on ledger_balance_delta
  for each statement execute function ledger_append_only();
