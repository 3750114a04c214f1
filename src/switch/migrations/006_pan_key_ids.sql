-- PAN hash keys with ids (docs/switch.md, "PAN hash key"; docs/security.md, "PAN hash keys"): every PAN hash is
-- stored with the id of the key that made it, so that after a rotation a look-up compares a card with a stored
-- hash under that row's key. Null beside a hash: a row written before key ids, hashed with the legacy key (`k1`).
-- No check on the column: adding one would read every day partition to validate it; the ids are checked where
-- they are made (src/ledger/pan.ts PanKeyRing), and the column stays a metadata-only change.
alter table switch_intent add column pan_key text collate "C";
alter type switch_intent_in add attribute pan_key text;

-- The current state carries the key id too (004_partial_reversals.sql, with pan_key as its last column).
create or replace view switch_txn as
select i.txn_id as id, i.kind, i.psp, i.mti, i.psp_stan, i.psp_terminal, i.psp_merchant, i.psp_dt, i.dup_key, i.original_id,
       coalesce(o.state, i.state, 'sent') as state,
       i.amount, i.currency, i.pan_hash, i.pan_masked, i.psp_merchant as merchant,
       coalesce(r.acquirer, i.acquirer) as acquirer, coalesce(r.terminal, i.terminal) as terminal,
       coalesce(r.acq_stan, i.acq_stan) as acq_stan, coalesce(r.acq_rrn, i.acq_rrn) as acq_rrn, coalesce(r.acq_dt, i.acq_dt) as acq_dt,
       coalesce(r.acq_tid, i.acq_tid) as acq_tid, coalesce(r.acq_mid, i.acq_mid) as acq_mid,
       coalesce(a.response_code, i.response_code) as response_code, coalesce(a.auth_code, i.auth_code) as auth_code,
       coalesce(p.amount, a.amount) as approved_amount, c.amount as captured_amount, coalesce(o.seq, 0) as seq,
       i.rules_version, i.explanation, i.created_at, coalesce(o.at, i.created_at) as updated_at, i.day,
       i.pan_key
  from switch_intent i
  left join lateral (select x.acquirer, x.terminal, x.acq_stan, x.acq_rrn, x.acq_dt, x.acq_tid, x.acq_mid from switch_intent x
                      where x.txn_id = i.txn_id and x.day = i.day and x.attempt > 1 order by x.attempt desc limit 1) r on true
  left join lateral (select y.state, y.seq, y.at from switch_outcome y where y.txn_id = i.txn_id and y.day = i.day
                      order by y.seq desc limit 1) o on true
  left join lateral (select y.response_code, y.auth_code, y.amount from switch_outcome y
                      where y.txn_id = i.txn_id and y.day = i.day and y.seq = 1) a on true
  left join lateral (select y.amount from switch_outcome y where y.txn_id = i.txn_id and y.day = i.day and y.state = 'approved'
                        and y.seq > 1 and y.amount is not null order by y.seq desc limit 1) p on true
  left join lateral (select y.amount from switch_outcome y where y.txn_id = i.txn_id and y.day = i.day and y.state = 'captured'
                      order by y.seq desc limit 1) c on true
 where i.attempt = 1;
