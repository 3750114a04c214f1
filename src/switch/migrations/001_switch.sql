-- Switch transactions, their append-only event history, the store-and-forward queue, dead letters and
-- orphan reversals. Only src/switch writes these tables. No PAN: a keyed hash and the masked PAN at most.

create table switch_txn (
  id               text primary key check (length(id) between 1 and 64),
  kind             text not null check (kind in ('auth', 'financial', 'capture', 'reversal')),
  psp              text not null,
  mti              text not null check (mti ~ '^[0-9]{4}$'),
  psp_stan         text not null,
  psp_terminal     text not null,
  psp_merchant     text not null,
  psp_dt           text not null,
  -- MTI class + DE11 + DE41 + DE42 + DE7: the duplicate key (repeats share their original's class)
  dup_key          text not null,
  original_id      text references switch_txn (id),
  state            text not null check (state in ('received', 'sent', 'approved', 'declined', 'timed_out',
                     'failed', 'captured', 'reversed', 'expired', 'acknowledged')),
  amount           bigint check (amount >= 0),
  currency         text check (currency ~ '^[0-9]{3}$'),
  pan_hash         text check (pan_hash is null or pan_hash ~ '^[0-9a-f]{16,128}$'),
  pan_masked       text check (pan_masked is null or length(regexp_replace(pan_masked, '[^0-9]', '', 'g')) <= 10),
  merchant         text,
  acquirer         text,
  terminal         text,
  acq_stan         text,
  acq_rrn          text,
  acq_dt           text,
  response_code    text,
  auth_code        text,
  captured_amount  bigint check (captured_amount >= 0),
  rules_version    int,
  explanation      jsonb,
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now()
);
create unique index switch_txn_dup on switch_txn (psp, dup_key);
create index switch_txn_original_data on switch_txn (psp, psp_terminal, psp_merchant, psp_stan);
create index switch_txn_rrn on switch_txn (acq_rrn);
create index switch_txn_open on switch_txn (state, created_at) where state in ('sent', 'approved');
create index switch_txn_created on switch_txn using brin (created_at);

-- Legal state transitions, enforced here so no code path can skip one.
create function switch_txn_guard() returns trigger language plpgsql as $$
begin
  if new.id <> old.id or new.kind <> old.kind or new.dup_key <> old.dup_key or new.psp <> old.psp then
    raise exception 'switch_txn identity is immutable' using errcode = 'check_violation';
  end if;
  if new.state <> old.state and not (
       (old.state = 'received' and new.state in ('sent', 'approved', 'declined', 'failed', 'acknowledged'))
    or (old.state = 'sent' and new.state in ('approved', 'declined', 'timed_out', 'failed'))
    or (old.state = 'approved' and new.state in ('captured', 'reversed', 'expired'))
    or (old.state = 'captured' and new.state in ('reversed'))
    or (old.state = 'timed_out' and new.state in ('reversed'))
  ) then
    raise exception 'switch_txn % cannot go from % to %', old.id, old.state, new.state using errcode = 'check_violation';
  end if;
  new.updated_at := now();
  return new;
end $$;
create trigger switch_txn_guard before update on switch_txn for each row execute function switch_txn_guard();
create function switch_txn_no_delete() returns trigger language plpgsql as $$
begin
  raise exception 'switch_txn rows are never deleted' using errcode = 'check_violation';
end $$;
create trigger switch_txn_no_delete before delete on switch_txn for each row execute function switch_txn_no_delete();

create table switch_txn_event (
  txn_id  text not null references switch_txn (id),
  seq     bigint generated always as identity,
  event   text not null check (event in ('received', 'routed', 'sent', 'answered', 'held', 'captured',
            'reversal_queued', 'reversal_sent', 'reversed', 'expired', 'declined', 'timed_out', 'failed',
            'late_response', 'duplicate', 'rerouted', 'dead_letter', 'acknowledged')),
  at      timestamptz not null default now(),
  data    jsonb,
  primary key (txn_id, seq)
);
create function switch_append_only() returns trigger language plpgsql as $$
begin
  raise exception '% is append-only', tg_table_name using errcode = 'check_violation';
end $$;
create trigger switch_txn_event_append_only before update or delete on switch_txn_event
  for each row execute function switch_append_only();

-- Store-and-forward: reversals owed to acquirers, repeated until answered. `fields` holds the message to
-- send without DE2, DE35, DE45, DE52 or DE55 (the original is identified by DE90, DE37, DE41, DE42).
create table switch_saf (
  id          bigint generated always as identity primary key,
  txn_id      text not null references switch_txn (id),
  acquirer    text not null,
  mti         text not null check (mti in ('0400', '0420')),
  fields      jsonb not null,
  attempts    int not null default 0,
  next_at     timestamptz not null default now(),
  expires_at  timestamptz not null,
  last_error  text,
  created_at  timestamptz not null default now(),
  done_at     timestamptz,
  response_code text,
  unique (txn_id, mti)
);
create index switch_saf_due on switch_saf (next_at) where done_at is null;

create table switch_dead_letter (
  saf_id      bigint primary key references switch_saf (id),
  txn_id      text not null,
  acquirer    text not null,
  mti         text not null,
  attempts    int not null,
  reason      text not null,
  created_at  timestamptz not null default now(),
  retried_at  timestamptz
);

-- Reversals whose original we never saw: the original is declined if it arrives later.
create table switch_orphan_reversal (
  psp         text not null,
  orig_key    text not null,
  txn_id      text not null references switch_txn (id),
  created_at  timestamptz not null default now(),
  primary key (psp, orig_key)
);
