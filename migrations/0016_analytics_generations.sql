-- Analytics exports published into Postgres, so that API processes on other machines (with
-- other data directories) read the same generation the workers wrote: each generation's
-- manifest, and its Parquet files in chunks. The newest generation is the current one; the
-- export keeps the two newest.

create schema tusk_analytics;

create table tusk_analytics.generations (
  -- generationName(): sorts by the snapshot's time.
  generation text primary key check (generation ~ '^\d{8}T\d{9}Z-[0-9a-f]{8}$'),
  manifest jsonb not null,
  published_at timestamptz not null default now()
);

create table tusk_analytics.chunks (
  generation text not null references tusk_analytics.generations on delete cascade,
  file text not null,
  seq integer not null check (seq >= 0),
  data bytea not null,
  primary key (generation, file, seq)
);
-- Parquet is already compressed (zstd): storing it again compressed would only cost CPU.
alter table tusk_analytics.chunks alter column data set storage external;
