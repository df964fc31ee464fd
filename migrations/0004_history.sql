-- Audit history: triggers record every change to a tracked table as one event,
-- pointing at the context (request, job attempt, CLI command, block) that made it.
-- Track a table from any later migration with: select tusk_history.track('my_table');

create schema tusk_history;

-- One row per context that changed something. The application picks the id and
-- passes id and metadata in the transaction-local setting tusk.history_context;
-- the trigger inserts the row with the first event, so a context that changes
-- nothing, or whose transaction rolls back, leaves no row.
create table tusk_history.contexts (
  id uuid primary key,
  metadata jsonb not null,
  created_at timestamptz not null default clock_timestamp()
);
-- The history API's filters (request_id, user_id, job_id, ...: metadata @> '{"k": "v"}').
-- One GIN index rather than a b-tree per key: a request writes one context, and
-- GIN's pending list makes that insert cheap.
create index contexts_metadata_idx on tusk_history.contexts using gin (metadata jsonb_path_ops);

create table tusk_history.events (
  -- Ordering is by id, within and across transactions.
  id bigint generated always as identity primary key,
  table_name text not null,
  row_id text not null,
  op text not null check (op in ('insert', 'update', 'delete')),
  label text not null,
  -- clock_timestamp(), not now(): events of one transaction get distinct times.
  at timestamptz not null default clock_timestamp(),
  -- The row after the change (before it, for a delete), without excluded columns.
  data jsonb not null,
  -- Updates only: {column: [old, new]} for the columns that changed.
  diff jsonb,
  context_id uuid,
  db_user text not null default current_user,
  application_name text default current_setting('application_name', true)
);
-- One row's history, in order.
create index events_row_idx on tusk_history.events (table_name, row_id, id);
-- Events of a request, job or user (through their context).
create index events_context_idx on tusk_history.events (context_id);
-- Retention and time filters; the table is append-only, so a BRIN index stays tiny.
create index events_at_idx on tusk_history.events using brin (at);

-- What is tracked, and how: the API and revert consult it.
create table tusk_history.tracked (
  table_name text primary key,
  pk_column text not null,
  excluded text[] not null,
  ops text[] not null
);

create function tusk_history.record() returns trigger
language plpgsql as $$
declare
  -- Arguments fixed by track(): display name, primary key column, excluded columns.
  tracked_name text := TG_ARGV[0];
  pk_column text := TG_ARGV[1];
  excluded text[] := TG_ARGV[2]::text[];
  op text := lower(TG_OP);
  new_data jsonb;
  old_data jsonb;
  changes jsonb;
  context jsonb;
  context_id uuid;
begin
  if TG_OP <> 'INSERT' then old_data := to_jsonb(OLD) - excluded; end if;
  if TG_OP <> 'DELETE' then new_data := to_jsonb(NEW) - excluded; end if;
  if TG_OP = 'UPDATE' then
    select jsonb_object_agg(n.key, jsonb_build_array(old_data -> n.key, n.value)) into changes
    from jsonb_each(new_data) n
    where n.value is distinct from old_data -> n.key;
    -- An update that changes nothing tracked records nothing.
    if changes is null then return null; end if;
  end if;
  context := nullif(current_setting('tusk.history_context', true), '')::jsonb;
  if context is not null then
    context_id := (context ->> 'id')::uuid;
    -- Once per context and transaction, not once per row.
    if current_setting('tusk.history_saved', true) is distinct from context ->> 'id' then
      insert into tusk_history.contexts (id, metadata)
      values (context_id, context -> 'metadata')
      on conflict (id) do nothing;
      perform set_config('tusk.history_saved', context ->> 'id', true);
    end if;
  end if;
  insert into tusk_history.events (table_name, row_id, op, label, data, diff, context_id)
  values (
    tracked_name,
    coalesce(new_data, old_data) ->> pk_column,
    op,
    coalesce(context -> 'metadata' ->> 'label', tracked_name || '.' || op),
    coalesce(new_data, old_data),
    changes,
    context_id
  );
  return null;
end
$$;

-- Starts recording changes to `target`: `exclude` lists columns never stored
-- (not in data, not in diffs), `ops` the operations recorded. The table needs a
-- single-column primary key. Calling it again replaces the options.
create function tusk_history.track(
  target regclass,
  exclude text[] default '{}',
  ops text[] default '{insert,update,delete}'
) returns void
language plpgsql as $$
declare
  name text := target::text;
  pk text[];
  events text;
  unknown text[];
begin
  if ops = '{}' or not ops <@ array['insert', 'update', 'delete'] then
    raise exception 'tusk_history.track(%): ops must be some of insert, update, delete', name;
  end if;
  select array_agg(a.attname::text) into pk
  from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any (i.indkey)
  where i.indrelid = target and i.indisprimary;
  if pk is null or cardinality(pk) <> 1 then
    raise exception 'tusk_history.track(%): the table needs a single-column primary key', name;
  end if;
  select array_agg(c) into unknown from unnest(exclude) c
  where not exists (
    select from pg_attribute
    where attrelid = target and attname = c and attnum > 0 and not attisdropped
  );
  if unknown is not null then
    raise exception 'tusk_history.track(%): no column named %', name, array_to_string(unknown, ', ');
  end if;
  if pk[1] = any (exclude) then
    raise exception 'tusk_history.track(%): the primary key cannot be excluded', name;
  end if;
  select string_agg(upper(o), ' or ') into events from unnest(ops) o;
  execute format('drop trigger if exists tusk_history on %s', target);
  execute format(
    'create trigger tusk_history after %s on %s for each row execute function '
      'tusk_history.record(%L, %L, %L)',
    events, target, name, pk[1], exclude
  );
  insert into tusk_history.tracked (table_name, pk_column, excluded, ops)
  values (name, pk[1], exclude, ops)
  on conflict (table_name) do update
  set pk_column = excluded.pk_column, excluded = excluded.excluded, ops = excluded.ops;
end
$$;

-- Stops recording changes to `target`; its events stay.
create function tusk_history.untrack(target regclass) returns void
language plpgsql as $$
begin
  execute format('drop trigger if exists tusk_history on %s', target);
  delete from tusk_history.tracked where table_name = target::text;
end
$$;

-- The password hash and the token version (it only says how often tokens were
-- revoked) never reach history.
select tusk_history.track('users', exclude => '{hashed_password,token_version}');
select tusk_history.track('items');
