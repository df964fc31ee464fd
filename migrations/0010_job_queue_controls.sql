-- Tusk's controls over its job queues, beside pg-boss's own tables: whether a queue is paused
-- (pg-boss has no pause), and the concurrency and rate limits its code declares, written by
-- `migrate` so that every process can show them. Workers read the table at start and hear of
-- every change through NOTIFY tusk_job_queues, so a pause reaches all of them within a second.
create table job_queue_controls (
  queue text primary key,
  paused boolean not null default false,
  -- Most jobs of the queue running at once across all workers (per key when per_key).
  concurrency_limit integer check (concurrency_limit > 0),
  concurrency_per_key boolean not null default false,
  -- Most jobs started per rate_seconds across all workers (per key when per_key).
  rate_limit integer check (rate_limit > 0),
  rate_seconds double precision check (rate_seconds > 0),
  rate_per_key boolean not null default false,
  updated_at timestamptz not null default now()
);

create function job_queue_controls_notify() returns trigger
language plpgsql as $$
begin
  perform pg_notify('tusk_job_queues', new.queue);
  return null;
end $$;

create trigger job_queue_controls_notify after insert or update on job_queue_controls
  for each row execute function job_queue_controls_notify();

-- Pausing and resuming are operator actions: recorded with who, from where and why.
select tusk_history.track('job_queue_controls');
