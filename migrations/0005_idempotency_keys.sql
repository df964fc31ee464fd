-- Idempotency-Key: the first response to each (user, key), replayed to retries.

create table idempotency_keys (
  user_id uuid not null references users (id) on delete cascade,
  key text not null check (char_length(key) between 1 and 255),
  -- SHA-256 of method, path, query and body: a retry must be the same request.
  request_hash text not null,
  method text not null,
  path text not null,
  status smallint not null,
  headers jsonb not null default '{}',
  body text not null,
  created_at timestamptz not null default now(),
  primary key (user_id, key)
);

create index idempotency_keys_created_at on idempotency_keys (created_at);
