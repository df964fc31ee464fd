-- Idempotency-Key replays are bound to the privileges they were first answered with: an
-- answer given to a superuser is not replayed to the same user once demoted. Request hashes
-- are now HMACs keyed from SECRET_KEY ("hmac-sha256:..."); rows hashed before stay plain
-- SHA-256 until they expire (IDEMPOTENCY_TTL_HOURS).

alter table idempotency_keys add column as_superuser boolean not null default false;
comment on column idempotency_keys.request_hash is
  'HMAC-SHA256 (keyed from SECRET_KEY) of method, path, query and body: a retry must be the same request';
