-- Feature flags, cached in every process and invalidated through LISTEN/NOTIFY.

create table feature_flags (
  codename text primary key check (codename ~ '^[A-Za-z][A-Za-z0-9_.-]{0,99}$'),
  is_active boolean not null default false,
  label text check (char_length(label) <= 255),
  description text check (char_length(description) <= 2000),
  updated_at timestamptz not null default now()
);

create function feature_flags_touch() returns trigger language plpgsql as $$
begin
  new.updated_at := now();
  return new;
end
$$;

create trigger feature_flags_updated_at before update on feature_flags
  for each row execute function feature_flags_touch();

-- Any change, from the API, the command line or plain SQL, tells every listening process.
create function feature_flags_notify() returns trigger language plpgsql as $$
begin
  perform pg_notify('tusk_feature_flags', coalesce(new.codename, old.codename, '*'));
  return null;
end
$$;

create trigger feature_flags_changed after insert or update or delete on feature_flags
  for each row execute function feature_flags_notify();
create trigger feature_flags_truncated after truncate on feature_flags
  for each statement execute function feature_flags_notify();

insert into feature_flags (codename, is_active, label, description) values (
  'FF_ENABLE_REGISTRATION', false, 'Open registration',
  'Lets anyone create an account with POST /api/v1/users/signup'
);
