-- Schedules whose missed runs are all sent (`catchUp: "all"`): Tusk's schedulers send every run of
-- these, on time and after downtime, instead of pg-boss (which sends at most one missed run).
-- `last_tick` is how far runs have been sent: a scheduler takes the row (FOR UPDATE SKIP LOCKED),
-- sends each run after it, up to now and no older than `window_seconds`, with an id made of the
-- schedule and the run's time (so none is sent twice), and moves it on.
create table job_schedules_caught_up (
  queue text not null,
  key text not null,
  cron text not null,
  timezone text not null default 'UTC',
  data jsonb not null,
  window_seconds integer not null check (window_seconds >= 1),
  last_tick timestamptz not null default now(),
  last_sent_at timestamptz,
  created_at timestamptz not null default now(),
  primary key (queue, key)
);
