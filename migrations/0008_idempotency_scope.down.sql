alter table idempotency_keys drop column as_superuser;
comment on column idempotency_keys.request_hash is null;
