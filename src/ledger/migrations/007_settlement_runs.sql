-- Settlement reconciliation runs (docs/ledger.md, "Settlement files"): each `ledger:recon --settlement` run
-- records what it matched and the breaks it found, so the console can show the last one per acquirer.
create table ledger_settlement_run (
  id          bigserial primary key,
  acquirer    text not null,
  day         date not null,
  file        text not null,
  ran_at      timestamptz not null default now(),
  matched     integer not null check (matched >= 0),
  breaks      integer not null check (breaks >= 0),
  counts      jsonb not null,
  detail      jsonb not null
);
create index ledger_settlement_run_acquirer on ledger_settlement_run (acquirer, ran_at desc);
