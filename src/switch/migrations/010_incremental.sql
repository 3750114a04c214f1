-- Incremental authorizations (docs/switch.md, "Incremental authorizations"): a 0100 naming an open authorization
-- by DE90 raises it. It is a transaction of its own kind, an original for the duplicate and orphan checks like
-- the other requests the PSP originates.
alter table switch_intent drop constraint switch_intent_kind_check;
alter table switch_intent add constraint switch_intent_kind_check
  check (kind in ('auth', 'financial', 'capture', 'reversal', 'refund', 'balance', 'incremental'));

drop index switch_intent_original;
create unique index switch_intent_original on switch_intent (day, psp, psp_dt, psp_stan, psp_terminal, psp_merchant)
  where attempt = 1 and kind in ('auth', 'financial', 'refund', 'balance', 'incremental');
