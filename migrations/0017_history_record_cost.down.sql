-- Back to 0004's trigger and check, and 0014's lock on events.

create or replace function tusk_history.record() returns trigger
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

alter table tusk_history.events
  add constraint events_op_check check (op in ('insert', 'update', 'delete'));

create or replace function tusk_events.before_append() returns trigger
language plpgsql as $$
begin
  perform pg_advisory_xact_lock_shared(1953854315, 2);
  return null;
end
$$;
create trigger tusk_events_append before insert on tusk_history.events
  for each statement execute function tusk_events.before_append();
