-- Cut-over totals (docs/switch.md, "Cut-over totals"): one row per acquirer, business day and currency. The
-- instance that inserts it sends the 0500 (so N instances send one); the 0510's totals and the verdict follow.
create table switch_cutover_totals (
  acquirer     text not null,
  day          date not null,
  currency     smallint not null,
  claimed_at   timestamptz not null default now(),
  ours         jsonb not null,
  theirs       jsonb,
  -- null until answered; in_balance = our totals and the acquirer's agree field by field
  state        text not null default 'sent' check (state in ('sent', 'in_balance', 'out_of_balance', 'failed')),
  settlement_code text,
  differences  text[],
  answered_at  timestamptz,
  primary key (acquirer, day, currency)
);
