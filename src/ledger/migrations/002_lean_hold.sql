-- Lean hold path (forward-only change to 001):
--  * the hold itself is recorded by its plan row (id, hold hash, metadata, created_at; immutable by trigger);
--    the journal records the operations after it (batches >= 2, commit, rollback) from step 2 on;
--  * the posting trigger checks the (account, currency) pairs of a statement (this is what makes every batch sum to
--    zero per currency); whether a plan was open when a posting went in is left to the application and the audit
--    (ledger:check), as the per-plan lookup doubled the cost of a hold.
create or replace function ledger_posting_check() returns trigger language plpgsql as $$
declare bad record;
begin
  select x.id, x.currency into bad
    from (select from_account as id, currency from new_rows union select to_account, currency from new_rows) x
    left join ledger_account a on a.id = x.id
   where a.id is null or a.currency <> x.currency
   limit 1;
  if found then
    raise exception 'ledger: a posting names missing account % or mixes currencies (posting currency %)', bad.id, bad.currency
      using errcode = 'P0001';
  end if;
  return null;
end $$;
