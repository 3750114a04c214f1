-- Audit log of every change made through the admin API: append-only.
create table admin_audit_log (
  id           bigint generated always as identity primary key,
  at           timestamptz not null default now(),
  actor        text not null check (actor <> ''),
  role         text not null,
  action       text not null,
  target       text not null,
  before_hash  text,
  after_hash   text,
  detail       jsonb not null default '{}'::jsonb
);
create index admin_audit_log_at on admin_audit_log (at desc);

create function admin_audit_log_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'admin_audit_log is append-only (id %)', old.id;
end $$;
create trigger admin_audit_log_append_only before update or delete on admin_audit_log
  for each row execute function admin_audit_log_append_only();
