-- Refunds and compensations as plan kinds of their own (docs/ledger.md, "Plan kinds"):
--  * kind 'refund': a payment the other way (merchant -> acquirer amount), its fee signed: > 0 a refund fee the
--    merchant pays (merchant -> fees), < 0 the payment's fee given back (fees -> merchant);
--  * kind 'compensation': the committed plan `<id>:reversal` that release() writes to move a committed payment or
--    refund back; it carries the original's acquirer, terminal, merchant, currency, amount and fee (the fee with
--    the original's sign: what it moved back);
--  * fee and final_fee stay >= 0 for payment plans; only refund and compensation plans may carry a negative fee;
--  * the hot path's hold type names the plan kind (null: payment, what rows prepared before this file mean).
-- Nothing else changes: the append-only triggers, the insert check (HOLD at step 1 or COMMIT at step 2) and the
-- transition check of 003/004 (kind, fee and the other identity columns immutable) stay as they are.
-- Adding the checks reads every partition once (a partitioned table takes no NOT VALID constraint).
do $$
declare c record;
begin
  for c in select conname from pg_constraint
            where conrelid = 'ledger_plan'::regclass and contype = 'c' and conname ~ '^ledger_plan_(kind|fee|final_fee)_check[0-9]*$' loop
    execute format('alter table ledger_plan drop constraint %I', c.conname);
  end loop;
end $$;

alter table ledger_plan add constraint ledger_plan_kind check (kind in ('payment', 'postings', 'refund', 'compensation'));
alter table ledger_plan add constraint ledger_plan_fee_sign check (kind in ('refund', 'compensation') or fee >= 0);
alter table ledger_plan add constraint ledger_plan_final_fee_sign check (kind in ('refund', 'compensation') or final_fee >= 0);

alter type ledger_hold_in add attribute kd text;
