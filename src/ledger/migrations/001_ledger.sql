-- Ledger: accounts, posting plans (HOLD -> COMMIT | ROLLBACK), postings, journal, rejections.
-- Rules enforced here, not only in code:
--   * postings, journal and rejections are append-only (UPDATE, DELETE, TRUNCATE refused);
--   * a plan is created in HOLD and only moves HOLD -> HOLD (new batch) | COMMIT | ROLLBACK; its identity,
--     hold payload hash and metadata never change; batches only grow;
--   * a posting moves a positive amount between two different accounts of the posting's currency, into a
--     plan that is in HOLD: every batch therefore sums to zero per currency;
--   * every UPDATE of account balances conserves money: per currency, the statement's changes to posted
--     balances sum to zero and its changes to pending debits and credits cancel out; account identity
--     (code, kind, currency, minor unit) never changes and accounts are never deleted;
--   * no PAN: a masked PAN keeps at most 10 digits.

create table ledger_account (
  id           bigint generated always as identity primary key,
  code         text not null unique check (length(code) between 1 and 200),
  kind         text not null check (kind in ('merchant', 'acquirer', 'fees', 'system')),
  currency     smallint not null check (currency between 1 and 999),
  minor_unit   smallint not null check (minor_unit between 0 and 4),
  no_negative  boolean not null default false,
  own          bigint not null default 0,          -- posted balance
  min_acc      bigint not null default 0 check (min_acc <= 0),   -- -(debits pending)
  max_acc      bigint not null default 0 check (max_acc >= 0),   -- credits pending
  created_at   timestamptz not null default now(),
  constraint ledger_account_no_negative check (not no_negative or own + min_acc >= 0)
);

create table ledger_plan (
  id            text primary key check (length(id) between 1 and 128),
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
  amount        bigint check (amount >= 0),        -- held amount (payment plans)
  fee           bigint check (fee >= 0),
  final_amount  bigint check (final_amount >= 0),  -- captured amount (payment plans, on commit)
  final_fee     bigint check (final_fee >= 0),
  pan_hash      text check (pan_hash is null or pan_hash ~ '^[0-9a-f]{16,128}$'),
  pan_masked    text check (pan_masked is null or length(regexp_replace(pan_masked, '[^0-9]', '', 'g')) <= 10),
  created_at    timestamptz not null default now(),
  closed_at     timestamptz,
  check ((state = 'HOLD') = (close_hash is null))
);
-- BRIN: reconciliation filters by day; a BRIN index costs next to nothing on the insert path.
create index ledger_plan_created on ledger_plan using brin (created_at);

create table ledger_posting (
  plan_id       text not null,
  batch_id      int not null check (batch_id >= 1),
  seq           int not null check (seq >= 0),
  from_account  bigint not null,
  to_account    bigint not null,
  amount        bigint not null check (amount > 0),
  currency      smallint not null,
  primary key (plan_id, batch_id, seq),
  check (from_account <> to_account)
);

create table ledger_journal (
  plan_id       text not null,
  step          int not null check (step >= 1),
  op            text not null check (op in ('hold', 'batch', 'commit', 'rollback')),
  batch_id      int,
  request_hash  bytea not null,
  at            timestamptz not null default now(),
  primary key (plan_id, step),
  check ((op in ('hold', 'batch')) = (batch_id is not null))
);

create table ledger_rejection (
  request_key   text primary key,
  request_hash  bytea not null,
  code          text not null,
  params        jsonb not null,
  at            timestamptz not null default now()
);

-- append-only ---------------------------------------------------------------------------------------------
create function ledger_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'ledger: % on % refused (append-only)', tg_op, tg_table_name using errcode = 'P0001';
end $$;

create trigger ledger_posting_append_only before update or delete or truncate on ledger_posting
  for each statement execute function ledger_append_only();
create trigger ledger_journal_append_only before update or delete or truncate on ledger_journal
  for each statement execute function ledger_append_only();
create trigger ledger_rejection_append_only before update or delete or truncate on ledger_rejection
  for each statement execute function ledger_append_only();
create trigger ledger_account_no_delete before delete or truncate on ledger_account
  for each statement execute function ledger_append_only();
create trigger ledger_plan_no_delete before delete or truncate on ledger_plan
  for each statement execute function ledger_append_only();

-- plans: created in HOLD, legal transitions only ----------------------------------------------------------
create function ledger_plan_insert_check() returns trigger language plpgsql as $$
begin
  if exists (select 1 from new_rows where state <> 'HOLD' or last_batch <> 1 or last_step <> 1) then
    raise exception 'ledger: a plan is created in HOLD with batch 1' using errcode = 'P0001';
  end if;
  return null;
end $$;
create trigger ledger_plan_insert_check after insert on ledger_plan
  referencing new table as new_rows for each statement execute function ledger_plan_insert_check();

create function ledger_plan_transition() returns trigger language plpgsql as $$
begin
  if old.state <> 'HOLD' then
    raise exception 'ledger: plan % is % (final); % refused', old.id, old.state, new.state using errcode = 'P0001';
  end if;
  if new.id <> old.id or new.kind <> old.kind or new.hold_hash <> old.hold_hash or new.created_at <> old.created_at
     or new.acquirer is distinct from old.acquirer or new.terminal is distinct from old.terminal
     or new.merchant is distinct from old.merchant or new.currency is distinct from old.currency
     or new.amount is distinct from old.amount or new.fee is distinct from old.fee
     or new.pan_hash is distinct from old.pan_hash or new.pan_masked is distinct from old.pan_masked then
    raise exception 'ledger: plan % identity is immutable', old.id using errcode = 'P0001';
  end if;
  if new.last_batch < old.last_batch or new.last_step < old.last_step then
    raise exception 'ledger: plan % batches only grow', old.id using errcode = 'P0001';
  end if;
  return new;
end $$;
create trigger ledger_plan_transition before update on ledger_plan
  for each row execute function ledger_plan_transition();

-- postings: balanced, right currency, into a plan in HOLD -------------------------------------------------
create function ledger_posting_check() returns trigger language plpgsql as $$
declare bad record;
begin
  -- distinct (account, currency) pairs first: a batch of holds touches few accounts
  select x.id, x.currency into bad
    from (select from_account as id, currency from new_rows union select to_account, currency from new_rows) x
    left join ledger_account a on a.id = x.id
   where a.id is null or a.currency <> x.currency
   limit 1;
  if found then
    raise exception 'ledger: a posting names missing account % or mixes currencies (posting currency %)', bad.id, bad.currency
      using errcode = 'P0001';
  end if;
  select p.plan_id into bad
    from (select distinct plan_id from new_rows) p
    left join ledger_plan l on l.id = p.plan_id
   where l.id is null or l.state <> 'HOLD'
   limit 1;
  if found then
    raise exception 'ledger: postings into plan % which is not in HOLD', bad.plan_id using errcode = 'P0001';
  end if;
  return null;
end $$;
create trigger ledger_posting_check after insert on ledger_posting
  referencing new table as new_rows for each statement execute function ledger_posting_check();

-- accounts: identity immutable, balance changes conserve money per currency ------------------------------
create function ledger_account_conserve() returns trigger language plpgsql as $$
declare bad record;
begin
  select o.id into bad from old_rows o join new_rows n on n.id = o.id
   where n.code <> o.code or n.kind <> o.kind or n.currency <> o.currency or n.minor_unit <> o.minor_unit
   limit 1;
  if found then
    raise exception 'ledger: account % identity is immutable', bad.id using errcode = 'P0001';
  end if;
  select n.currency, sum(n.own - o.own) as d_own, sum((n.min_acc - o.min_acc) + (n.max_acc - o.max_acc)) as d_pending
    into bad
    from old_rows o join new_rows n on n.id = o.id
   group by n.currency
  having sum(n.own - o.own) <> 0 or sum((n.min_acc - o.min_acc) + (n.max_acc - o.max_acc)) <> 0
   limit 1;
  if found then
    raise exception 'ledger: balance update does not conserve currency % (posted %, pending %)', bad.currency, bad.d_own, bad.d_pending
      using errcode = 'P0001';
  end if;
  return null;
end $$;
create trigger ledger_account_conserve after update on ledger_account
  referencing old table as old_rows new table as new_rows for each statement execute function ledger_account_conserve();

-- A freshly inserted account starts at zero.
create function ledger_account_insert_zero() returns trigger language plpgsql as $$
begin
  if exists (select 1 from new_rows where own <> 0 or min_acc <> 0 or max_acc <> 0) then
    raise exception 'ledger: accounts are created with zero balances' using errcode = 'P0001';
  end if;
  return null;
end $$;
create trigger ledger_account_insert_zero after insert on ledger_account
  referencing new table as new_rows for each statement execute function ledger_account_insert_zero();
