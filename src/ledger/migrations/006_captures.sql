-- Partial captures (docs/ledger.md, "Plan kinds"): kind 'capture' is a part of a payment's hold captured on its
-- own, committed at once under the capture's own id, while the payment's hold is brought down by as much and
-- stays open for the next capture. Its postings and fee are a payment's (fee >= 0); a release of it is a
-- compensation like any committed plan's.
alter table ledger_plan drop constraint ledger_plan_kind;
alter table ledger_plan add constraint ledger_plan_kind check (kind in ('payment', 'capture', 'postings', 'refund', 'compensation'));
