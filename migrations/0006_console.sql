-- The ops console at /admin: its sessions, and audit history for feature flags (an
-- operator flipping a flag is exactly the change an audit trail is for).

-- Sessions of the ops console at /admin. The cookie holds a random token; only its SHA-256
-- is stored, so a read of this table cannot be replayed as a login. A session ends when its
-- row goes: logout deletes it, and a user's deletion cascades. The token version it was
-- opened under is kept so that deactivation, demotion or a new password (each bumps the
-- user's token_version) ends every session at once, as it revokes every API token.

create table console_sessions (
  token_hash bytea primary key,
  user_id uuid not null references users (id) on delete cascade,
  token_version integer not null,
  -- The synchronizer token every state-changing form must carry back.
  csrf_token text not null,
  created_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  expires_at timestamptz not null
);
create index console_sessions_user_idx on console_sessions (user_id);
create index console_sessions_expires_idx on console_sessions (expires_at);

-- updated_at changes on every write; the diff that matters is the flag's own fields.
select tusk_history.track('feature_flags', exclude => '{updated_at}');
