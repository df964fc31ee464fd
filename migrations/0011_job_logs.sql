-- What a job's handler logged through its context's `log`, one row per attempt: shown with the
-- job by the job API and the console. Bounded (at most 100 lines and 16 KB an attempt; `truncated`
-- counts the lines left out), with secret-looking values redacted before they are written.
-- `maintenance` deletes the rows of jobs pg-boss no longer keeps.
create table job_logs (
  job_id uuid not null,
  attempt integer not null check (attempt >= 1),
  -- [{at, level, msg, fields?}], oldest first.
  lines jsonb not null,
  truncated integer not null default 0,
  created_at timestamptz not null default now(),
  primary key (job_id, attempt)
);
create index job_logs_created_at_idx on job_logs (created_at);
