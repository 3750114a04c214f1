-- Revoked admin tokens (docs/admin.md, "Tokens and roles"): by the token's sha256, so a token issued again under
-- the same name works. Every instance looks here on each authenticated request.
create table admin_revoked_tokens (
  sha256      text primary key check (sha256 ~ '^[0-9a-f]{64}$'),
  name        text not null,
  reason      text not null check (length(reason) between 1 and 500),
  revoked_by  text not null,
  revoked_at  timestamptz not null default now()
);

-- Maker-checker (docs/admin.md, "Maker-checker"): an activation proposed by one person, approved or rejected by another.
create table admin_pending_activations (
  id           bigint generated always as identity primary key,
  version      bigint not null,
  comment      text not null default '',
  proposed_by  text not null,
  proposed_at  timestamptz not null default now(),
  decision     text check (decision in ('approved', 'rejected')),
  decided_by   text,
  decided_at   timestamptz,
  check ((decision is null) = (decided_at is null))
);
create index admin_pending_activations_open on admin_pending_activations (id) where decision is null;
