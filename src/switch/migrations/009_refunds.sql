-- Refunds and multiple captures (docs/switch.md, "Refunds", "Captures"):
--  * a refund (processing code 20) and a balance inquiry (30) are transactions of their own kinds;
--  * a refund names its original by DE90 like a capture or a reversal, and is itself an original that a
--    reversal names, so it joins the unique index of originals;
--  * the children of an original (its captures, refunds, reversals) are found by original_id: how much was
--    captured and refunded is summed from them (a partial index: the authorizations, most rows, have none);
--  * the steps a refund writes on its original ('refund claimed', 'refund recorded') and a partial capture's
--    ('partially captured') keep the original's state and amounts, and show as their own events in the history.
alter table switch_intent drop constraint switch_intent_kind_check;
alter table switch_intent add constraint switch_intent_kind_check
  check (kind in ('auth', 'financial', 'capture', 'reversal', 'refund', 'balance'));

drop index switch_intent_original;
create unique index switch_intent_original on switch_intent (day, psp, psp_dt, psp_stan, psp_terminal, psp_merchant)
  where attempt = 1 and kind in ('auth', 'financial', 'refund', 'balance');

create index switch_intent_children on switch_intent (original_id) where original_id is not null;

create or replace view switch_txn_history as
select txn_id, at, k, event, data from (
  select i.txn_id, i.created_at as at, 0 as k, 'received' as event, null::json as data from switch_intent i where i.attempt = 1
  union all
  select i.txn_id, i.created_at, 1, 'routed', json_build_object('terminal', i.terminal) from switch_intent i
   where i.attempt = 1 and i.acquirer is not null and i.kind in ('auth', 'financial', 'refund', 'balance') and i.state is null
  union all
  select i.txn_id, i.created_at, 2 + i.attempt * 2, 'rerouted', json_build_object('terminal', i.terminal) from switch_intent i where i.attempt > 1
  union all
  select i.txn_id, i.created_at, 3 + i.attempt * 2, 'sent', json_build_object('acquirer', i.acquirer, 'stan', i.acq_stan) from switch_intent i
   where i.acquirer is not null and i.state is null and i.kind in ('auth', 'financial', 'refund', 'balance')
  union all
  select i.txn_id, i.created_at, 100, case i.state when 'acknowledged' then 'acknowledged' when 'approved' then 'captured' else 'declined' end,
         json_build_object('code', i.response_code, 'reason', i.reason) from switch_intent i where i.attempt = 1 and i.state is not null
  union all
  select o.txn_id, o.at, 100 + o.seq * 10 + e.n, e.event, json_build_object('code', o.response_code, 'amount', o.amount, 'by', o.ref, 'reason', o.reason)
    from switch_outcome o
   cross join lateral (values
       (case when o.reason = 'refund claimed' then 'refund_sent' when o.reason = 'refund recorded' then 'refund_recorded'
             when o.reason = 'partially captured' then 'partially_captured' else
        case o.state when 'approved' then case when o.seq = 1 then 'answered' when o.amount is not null then 'partially_reversed' else 'capture_declined' end
                     when 'declined' then 'answered' when 'timed_out' then 'timed_out'
                     when 'failed' then 'failed' when 'capturing' then 'capture_sent' when 'captured' then 'captured'
                     when 'reversed' then 'reversed' when 'expired' then 'expired' end end, 0),
       (case o.state when 'approved' then case when o.seq = 1 and o.amount > 0 then 'held' end
                     when 'declined' then 'declined'
                     when 'timed_out' then 'reversal_queued' when 'failed' then 'reversal_queued' end, 1)) as e(event, n)
   where e.event is not null
  union all
  select n.txn_id, n.at, 10000, n.event, n.data from switch_note n
) h;
