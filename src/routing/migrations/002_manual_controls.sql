-- Manual controls (docs/routing.md, "Manual controls"): an operator drains, forces down or forces up a terminal or
-- an acquirer, with a reason and an optional expiry. A row is never deleted: lifting or replacing a control sets
-- cleared_at, so the table is its own history. At most one uncleared control per target.
create table routing_controls (
  id           bigint generated always as identity primary key,
  target_kind  text not null check (target_kind in ('acquirer', 'terminal')),
  target       text not null check (target ~ '^[A-Za-z0-9._-]{1,64}$'),
  state        text not null check (state in ('drain', 'down', 'up')),
  reason       text not null check (length(reason) between 1 and 500),
  actor        text not null check (actor <> ''),
  created_at   timestamptz not null default now(),
  expires_at   timestamptz check (expires_at is null or expires_at > created_at),
  cleared_at   timestamptz,
  cleared_by   text
);
create unique index routing_controls_one_per_target on routing_controls (target_kind, target) where cleared_at is null;
