-- Partial reversals (docs/switch.md, "Flows"): the authorization stays 'approved', its next step carrying the
-- amount that stands; the approved amount a capture is checked against is the latest such step's, or the answer's.
create or replace view switch_txn as
select i.txn_id as id, i.kind, i.psp, i.mti, i.psp_stan, i.psp_terminal, i.psp_merchant, i.psp_dt, i.dup_key, i.original_id,
       coalesce(o.state, i.state, 'sent') as state,
       i.amount, i.currency, i.pan_hash, i.pan_masked, i.psp_merchant as merchant,
       coalesce(r.acquirer, i.acquirer) as acquirer, coalesce(r.terminal, i.terminal) as terminal,
       coalesce(r.acq_stan, i.acq_stan) as acq_stan, coalesce(r.acq_rrn, i.acq_rrn) as acq_rrn, coalesce(r.acq_dt, i.acq_dt) as acq_dt,
       coalesce(r.acq_tid, i.acq_tid) as acq_tid, coalesce(r.acq_mid, i.acq_mid) as acq_mid,
       coalesce(a.response_code, i.response_code) as response_code, coalesce(a.auth_code, i.auth_code) as auth_code,
       coalesce(p.amount, a.amount) as approved_amount, c.amount as captured_amount, coalesce(o.seq, 0) as seq,
       i.rules_version, i.explanation, i.created_at, coalesce(o.at, i.created_at) as updated_at, i.day
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

create or replace view switch_txn_history as
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
       (case o.state when 'approved' then case when o.seq = 1 then 'answered' when o.amount is not null then 'partially_reversed' else 'capture_declined' end
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
