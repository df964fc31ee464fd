-- Live events (`GET /api/v1/events`): the audit history and app channel messages as one ordered
-- log that streams resume from by id.
--
-- Readers deliver an id only once every id below it is final (committed, or gone for good with a
-- rolled-back transaction). A transaction that appends to the log holds a shared advisory lock
-- (class "tusk", 0x7475736b, object 2) from before it takes an id until it ends, so a reader that
-- sees a hole knows which transactions could fill it: those holding the lock when it looked (it
-- reads pg_locks after its snapshot). Once they have all ended, the next read shows the hole's final
-- state. Unrelated transactions, however long, hold readers back not at all. (A snapshot's xmin
-- cannot replace the lock: a running transaction whose xid is at or above the snapshot's xmax is
-- not listed as running, so "xmin has passed" can be true while the writer still runs.)
--
-- Nothing here sends a NOTIFY: Postgres serializes the commits of notifying transactions, which
-- halved concurrent tracked writes when measured. Readers poll the sequence instead.
create schema tusk_events;

-- App channels (`publish("orders:42", payload)`): durable pub/sub. Ids come from the history's
-- sequence, so one cursor orders table changes and messages together.
create table tusk_events.messages (
  id bigint primary key default nextval('tusk_history.events_id_seq'),
  channel text not null check (channel ~ '^[A-Za-z0-9_.-]+:[A-Za-z0-9_.:@-]+$' and length(channel) <= 200),
  payload jsonb not null,
  at timestamptz not null default clock_timestamp()
);
-- Replaying one channel from an id.
create index messages_channel_idx on tusk_events.messages (channel, id);
-- Retention deletes by age; append-only, so BRIN stays tiny.
create index messages_at_idx on tusk_events.messages using brin (at);

-- Before rows take their ids: the log writers' shared lock (see above). Shared locks do not wait
-- on each other; a transaction takes it once, later calls find it held.
create function tusk_events.before_append() returns trigger
language plpgsql as $$
begin
  perform pg_advisory_xact_lock_shared(1953854315, 2);
  return null;
end
$$;
create trigger tusk_events_append before insert on tusk_history.events
  for each statement execute function tusk_events.before_append();
create trigger tusk_events_append before insert on tusk_events.messages
  for each statement execute function tusk_events.before_append();

-- Publishes `payload` on `channel` (also from SQL: triggers, cron SQL); the message's id.
create function tusk_events.publish(channel text, payload jsonb) returns bigint
language sql as $$
  insert into tusk_events.messages (channel, payload) values (channel, payload) returning id
$$;

-- Single-use tickets for EventSource, which cannot send an Authorization header. Only the
-- SHA-256 of a ticket is kept; it carries the bearer token's version, so revoking tokens
-- also ends the streams opened with them.
create table tusk_events.tickets (
  hash bytea primary key,
  user_id uuid not null references users (id) on delete cascade,
  token_version integer not null,
  expires_at timestamptz not null
);

-- How far retention has deleted each log: a stream resuming from below it gets a `reset` event.
create table tusk_events.pruned (
  log text primary key check (log in ('history', 'messages')),
  up_to bigint not null
);
