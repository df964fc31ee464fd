-- Token revocation, password reset tokens and login/recovery throttling.

-- Bumped on password change or reset, deactivation and loss of superuser rights;
-- every access token carries the version it was issued under.
alter table users add column token_version integer not null default 0;

-- Only a SHA-256 of each token is stored; the token itself lives in the email.
create table password_reset_tokens (
  token_hash bytea primary key,
  user_id uuid not null references users (id) on delete cascade,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz
);
create index password_reset_tokens_user_idx on password_reset_tokens (user_id);
create index password_reset_tokens_expires_idx on password_reset_tokens (expires_at);

-- Fixed-window counters shared by every process (login failures, recovery requests).
create table rate_limits (
  key text primary key,
  hits integer not null,
  window_start timestamptz not null
);
create index rate_limits_window_idx on rate_limits (window_start);
