-- Rule set versions: immutable, append-only. The active version is one row; every activation is audited.
create table routing_rule_versions (
  version       bigint generated always as identity primary key,
  content_hash  text not null check (content_hash ~ '^[0-9a-f]{64}$'),
  content       jsonb not null,
  author        text not null check (author <> ''),
  comment       text not null default '',
  created_at    timestamptz not null default now()
);
create index routing_rule_versions_hash on routing_rule_versions (content_hash);

create function routing_rule_versions_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'routing_rule_versions is append-only (version %)', old.version;
end $$;
create trigger routing_rule_versions_append_only before update or delete on routing_rule_versions
  for each row execute function routing_rule_versions_append_only();

create table routing_active_version (
  singleton     boolean primary key default true check (singleton),
  version       bigint not null references routing_rule_versions (version),
  activated_at  timestamptz not null default now(),
  activated_by  text not null
);

create table routing_activations (
  id            bigint generated always as identity primary key,
  version       bigint not null references routing_rule_versions (version),
  previous      bigint references routing_rule_versions (version),
  kind          text not null check (kind in ('activate', 'rollback')),
  actor         text not null check (actor <> ''),
  comment       text not null default '',
  at            timestamptz not null default now()
);
