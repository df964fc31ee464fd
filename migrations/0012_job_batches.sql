-- Batches of jobs (`batch()` in jobs/batches.ts): the count of members that ended each way, and
-- the callback job sent, exactly once, when the last one ended. A member counts once, at its first
-- end: completed, failed after its last retry, or cancelled. Workers count what they settle, and
-- (every JOBS_SUPERVISE_INTERVAL_SECONDS) members whose end no worker saw (a job failed by its
-- expiry).
create table job_batches (
  id uuid primary key,
  name text not null,
  total integer not null check (total >= 1),
  completed integer not null default 0,
  failed integer not null default 0,
  cancelled integer not null default 0,
  -- The callback: a queue and the data it is sent with (the outcome is added as `batch`).
  on_complete_queue text,
  on_complete_data jsonb,
  -- Set in the transaction that sends the callback, so only one ever is.
  callback_job_id uuid,
  created_at timestamptz not null default now(),
  finished_at timestamptz,
  check (completed + failed + cancelled <= total)
);
create index job_batches_created_at_idx on job_batches (created_at);

create table job_batch_members (
  job_id uuid primary key,
  batch_id uuid not null references job_batches on delete cascade,
  queue text not null,
  -- null until the member ends: 'completed', 'failed' or 'cancelled'.
  outcome text check (outcome in ('completed', 'failed', 'cancelled'))
);
create index job_batch_members_batch_idx on job_batch_members (batch_id);
create index job_batch_members_open_idx on job_batch_members (batch_id) where outcome is null;
