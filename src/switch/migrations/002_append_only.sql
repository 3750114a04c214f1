-- The authorization record, append-only (docs/switch.md, "The durable record"):
--  * switch_intent: one row per attempt, written before the request leaves (the chosen acquirer, its STAN,
--    RRN, DE7, and the DE41/DE42 sent); a transaction decided without an acquirer carries its answer inline;
--  * switch_outcome: the answer (seq 1) and every later state change (capture, reversal, expiry), each a new
--    row; two writers of the same step of one transaction collide on the primary key, so state changes are
--    serialized across instances by the database, without row locks;
--  * the current state is derived: the view switch_txn; the history too: the view switch_txn_history;
--  * both are partitioned by `day`, the transaction's UTC creation day (docs/retention.md);
--  * no UPDATE, no row trigger, no foreign key on either; their checks are byte lengths and replace(), not
--    regular expressions (PostgreSQL's regex engine was most of an insert's cost); keys compare bytewise
--    (collate "C"), whatever the database's collation.

create table switch_intent (
  txn_id        text collate "C" not null check (octet_length(txn_id) between 1 and 64),
  attempt       smallint not null check (attempt between 1 and 32),
  kind          text not null check (kind in ('auth', 'financial', 'capture', 'reversal')),
  psp           text collate "C" not null,
  mti           text not null check (octet_length(mti) = 4),
  psp_stan      text not null,
  psp_terminal  text not null,
  psp_merchant  text not null,
  psp_dt        text not null,
  -- DE7 + MTI class + DE11 + DE41 + DE42 (src/switch/keys.ts); attempt 1 only
  dup_key       text collate "C",
  original_id   text,
  original_day  date,
  amount        bigint check (amount >= 0),
  currency      text check (octet_length(currency) = 3),
  -- HMAC-SHA-256 in hex: 64 characters, which no PAN (12 to 19 digits) has
  pan_hash      text check (pan_hash is null or octet_length(pan_hash) = 64),
  -- first 6 and last 4 at most: everything else is '*'
  pan_masked    text check (pan_masked is null or octet_length(replace(pan_masked, '*', '')) <= 10),
  acquirer      text,
  terminal      text,
  acq_stan      text,
  acq_rrn       text collate "C",
  acq_dt        text,
  acq_tid       text,
  acq_mid       text,
  rules_version int,
  -- the routing explanation, compact (src/routing/explanation-codec.ts)
  explanation   text,
  -- answer of a transaction decided without an acquirer round trip (local decline, a capture or reversal's answer)
  state         text check (state is null or state in ('declined', 'acknowledged', 'approved')),
  response_code text,
  auth_code     text,
  reason        text,
  created_at    timestamptz not null default now(),
  day           date not null,
  primary key (txn_id, attempt, day),
  check ((attempt = 1) = (dup_key is not null))
) partition by range (day);
create unique index switch_intent_dup on switch_intent (day, psp, dup_key) where attempt = 1;
create index switch_intent_rrn on switch_intent (acq_rrn) where acq_rrn is not null;

create table switch_outcome (
  txn_id        text collate "C" not null,
  seq           smallint not null check (seq between 1 and 1000),
  state         text not null check (state in ('approved', 'declined', 'timed_out', 'failed', 'capturing', 'captured',
                  'reversed', 'expired')),
  response_code text,
  auth_code     text,
  -- approved amount (seq 1), captured amount (captured)
  amount        bigint check (amount >= 0),
  -- the capture or reversal (a transaction of its own) that made this change
  ref           text,
  reason        text,
  at            timestamptz not null default now(),
  day           date not null,
  primary key (txn_id, seq, day)
) partition by range (day);
-- claims of captures in flight: the sweeper reverts the ones a crash left behind
create index switch_outcome_capturing on switch_outcome (at) where state = 'capturing';

-- Rare events with no state change of their own (a late answer, a reversal sent, a dead letter).
create table switch_note (
  txn_id   text not null,
  event    text not null check (event in ('late_response', 'reversal_sent', 'dead_letter', 'duplicate', 'reversal_queued')),
  data     json,
  at       timestamptz not null default now(),
  day      date not null
) partition by range (day);
create index switch_note_txn on switch_note (txn_id);

-- The write streams' rows, as one parameter each (an array of these): src/switch/store/hot.ts.
create type switch_intent_in as (
  txn_id text, attempt smallint, day date, kind text, psp text, mti text, psp_stan text, psp_terminal text, psp_merchant text,
  psp_dt text, dup_key text, original_id text, original_day date, amount bigint, currency text, pan_hash text, pan_masked text,
  acquirer text, terminal text, acq_stan text, acq_rrn text, acq_dt text, acq_tid text, acq_mid text, rules_version int,
  explanation text, state text, response_code text, auth_code text, reason text, orphan_key text);
create type switch_outcome_in as (
  txn_id text, seq smallint, day date, state text, response_code text, auth_code text, amount bigint, ref text, reason text);
create type switch_saf_in as (txn_id text, txn_day date, acquirer text, mti text, fields jsonb, expires_at timestamptz);

create function switch_day_partitions(from_day date, to_day date) returns int language plpgsql as $$
declare d date := from_day; n int := 0; t text;
begin
  while d <= to_day loop
    foreach t in array array['switch_intent', 'switch_outcome', 'switch_note'] loop
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

select switch_day_partitions(
  least((select min(created_at at time zone 'utc')::date from switch_txn), (now() at time zone 'utc')::date - 1),
  (now() at time zone 'utc')::date + 7);

-- The store-and-forward queue and the sweeper's progress are small working tables (updated, not partitioned).
alter table switch_saf drop constraint switch_saf_txn_id_fkey;
alter table switch_saf add column txn_day date;
alter table switch_orphan_reversal drop constraint switch_orphan_reversal_txn_id_fkey;

create table switch_sweep (
  name       text primary key,
  -- everything created before this time has been looked at
  watermark  timestamptz not null
);

-- Rows of the first layout (one updated row per transaction, plus events) move to the new one.
insert into switch_intent (txn_id, attempt, kind, psp, mti, psp_stan, psp_terminal, psp_merchant, psp_dt, dup_key, original_id,
    amount, currency, pan_hash, pan_masked, acquirer, terminal, acq_stan, acq_rrn, acq_dt, rules_version, explanation,
    state, response_code, auth_code, created_at, day)
  select id, 1, kind, psp, mti, psp_stan, psp_terminal, psp_merchant, psp_dt,
         psp_dt || '|' || split_part(dup_key, '|', 1) || '|' || psp_stan || '|' || psp_terminal || '|' || psp_merchant,
         original_id, amount, currency, pan_hash, pan_masked, acquirer, terminal, acq_stan, acq_rrn, acq_dt, rules_version,
         explanation::text,
         case when state in ('declined', 'acknowledged') or (state = 'approved' and kind = 'capture') then state end,
         case when state in ('declined', 'acknowledged') or (state = 'approved' and kind = 'capture') then response_code end,
         case when state in ('declined', 'acknowledged') or (state = 'approved' and kind = 'capture') then auth_code end,
         created_at, (created_at at time zone 'utc')::date
    from switch_txn;
insert into switch_outcome (txn_id, seq, state, response_code, auth_code, amount, at, day)
  select id, 1, case when state in ('captured', 'expired') then 'approved'
                     when state = 'reversed' then case when response_code = '00' then 'approved' else 'timed_out' end
                     else state end,
         response_code, auth_code, amount, updated_at, (created_at at time zone 'utc')::date
    from switch_txn where kind in ('auth', 'financial') and state in ('approved', 'timed_out', 'failed', 'captured', 'reversed', 'expired');
insert into switch_outcome (txn_id, seq, state, amount, at, day)
  select id, 2, state, case when state = 'captured' then captured_amount end, updated_at, (created_at at time zone 'utc')::date
    from switch_txn where kind in ('auth', 'financial') and state in ('captured', 'reversed', 'expired');
update switch_saf s set txn_day = (t.created_at at time zone 'utc')::date from switch_txn t where t.id = s.txn_id;
insert into switch_note (txn_id, event, data, at, day)
  select e.txn_id, e.event, e.data::json, e.at, (t.created_at at time zone 'utc')::date
    from switch_txn_event e join switch_txn t on t.id = e.txn_id
   where e.event in ('late_response', 'reversal_sent', 'dead_letter', 'duplicate');
alter table switch_saf alter column txn_day set not null;

drop table switch_txn_event;
drop table switch_txn cascade;
drop function switch_txn_guard();
drop function switch_txn_no_delete();
drop function switch_append_only();

-- Current state of every transaction: identity from its first attempt, the route of its last attempt, the
-- answer (seq 1, or inline) and the latest state change.
create view switch_txn as
select i.txn_id as id, i.kind, i.psp, i.mti, i.psp_stan, i.psp_terminal, i.psp_merchant, i.psp_dt, i.dup_key, i.original_id,
       coalesce(o.state, i.state, 'sent') as state,
       i.amount, i.currency, i.pan_hash, i.pan_masked, i.psp_merchant as merchant,
       coalesce(r.acquirer, i.acquirer) as acquirer, coalesce(r.terminal, i.terminal) as terminal,
       coalesce(r.acq_stan, i.acq_stan) as acq_stan, coalesce(r.acq_rrn, i.acq_rrn) as acq_rrn, coalesce(r.acq_dt, i.acq_dt) as acq_dt,
       coalesce(r.acq_tid, i.acq_tid) as acq_tid, coalesce(r.acq_mid, i.acq_mid) as acq_mid,
       coalesce(a.response_code, i.response_code) as response_code, coalesce(a.auth_code, i.auth_code) as auth_code,
       a.amount as approved_amount, c.amount as captured_amount, coalesce(o.seq, 0) as seq,
       i.rules_version, i.explanation, i.created_at, coalesce(o.at, i.created_at) as updated_at, i.day
  from switch_intent i
  left join lateral (select x.acquirer, x.terminal, x.acq_stan, x.acq_rrn, x.acq_dt, x.acq_tid, x.acq_mid from switch_intent x
                      where x.txn_id = i.txn_id and x.day = i.day and x.attempt > 1 order by x.attempt desc limit 1) r on true
  left join lateral (select y.state, y.seq, y.at from switch_outcome y where y.txn_id = i.txn_id and y.day = i.day
                      order by y.seq desc limit 1) o on true
  left join lateral (select y.response_code, y.auth_code, y.amount from switch_outcome y
                      where y.txn_id = i.txn_id and y.day = i.day and y.seq = 1) a on true
  left join lateral (select y.amount from switch_outcome y where y.txn_id = i.txn_id and y.day = i.day and y.state = 'captured'
                      order by y.seq desc limit 1) c on true
 where i.attempt = 1;

-- History of every transaction, oldest first, from the rows above (no event table on the hot path).
create view switch_txn_history as
select txn_id, at, k, event, data from (
  select i.txn_id, i.created_at as at, 0 as k, 'received' as event, null::json as data from switch_intent i where i.attempt = 1
  union all
  select i.txn_id, i.created_at, 1, 'routed', json_build_object('terminal', i.terminal) from switch_intent i
   where i.attempt = 1 and i.acquirer is not null and i.kind in ('auth', 'financial') and i.state is null
  union all
  select i.txn_id, i.created_at, 2 + i.attempt * 2, 'rerouted', json_build_object('terminal', i.terminal) from switch_intent i where i.attempt > 1
  union all
  select i.txn_id, i.created_at, 3 + i.attempt * 2, 'sent', json_build_object('acquirer', i.acquirer, 'stan', i.acq_stan) from switch_intent i
   where i.acquirer is not null and i.state is null and i.kind in ('auth', 'financial')
  union all
  select i.txn_id, i.created_at, 100, case i.state when 'acknowledged' then 'acknowledged' when 'approved' then 'captured' else 'declined' end,
         json_build_object('code', i.response_code, 'reason', i.reason) from switch_intent i where i.attempt = 1 and i.state is not null
  union all
  select o.txn_id, o.at, 100 + o.seq * 10 + e.n, e.event, json_build_object('code', o.response_code, 'amount', o.amount, 'by', o.ref, 'reason', o.reason)
    from switch_outcome o
   cross join lateral (values
       (case o.state when 'approved' then case when o.seq = 1 then 'answered' else 'capture_declined' end
                     when 'declined' then 'answered' when 'timed_out' then 'timed_out'
                     when 'failed' then 'failed' when 'capturing' then 'capture_sent' when 'captured' then 'captured'
                     when 'reversed' then 'reversed' when 'expired' then 'expired' end, 0),
       (case o.state when 'approved' then case when o.seq = 1 and o.amount > 0 then 'held' end
                     when 'declined' then 'declined'
                     when 'timed_out' then 'reversal_queued' when 'failed' then 'reversal_queued' end, 1)) as e(event, n)
   where e.event is not null
  union all
  select n.txn_id, n.at, 10000, n.event, n.data from switch_note n
) h;
