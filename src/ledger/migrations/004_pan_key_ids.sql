-- PAN hash keys with ids (docs/security.md, "PAN hash keys"): a plan's PAN hash is stored with the id of the key
-- that made it. Null beside a hash: a plan written before key ids, hashed with the legacy key (`k1`).
-- No check on the column: adding one would read every partition to validate it; the ids are checked where
-- they are made (src/ledger/validate.ts checkMeta, src/ledger/pan.ts PanKeyRing).
alter table ledger_plan add column pan_key text collate "C";
alter type ledger_hold_in add attribute pk text;

-- plans: the key id is part of a plan's identity, immutable like its hash (003_append_only.sql, with pan_key)
create or replace function ledger_plan_transition_check() returns trigger language plpgsql as $$
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
      or n.pan_key is distinct from o.pan_key
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
