-- The email log: one row for each message the worker sent, failed to send (one per attempt)
-- or skipped because email is off. It answers "what did we send this user, and did it
-- arrive?" after the send job itself is gone. It never holds a body or a link: reset links
-- are as good as passwords. Audit history does not track it; EMAIL_LOG_RETENTION_DAYS
-- bounds it.

create table email_log (
  id uuid primary key default gen_random_uuid(),
  at timestamptz not null default now(),
  template text,
  recipient text not null,
  subject text not null,
  status text not null check (status in ('sent', 'failed', 'skipped')),
  transport text not null check (transport in ('smtp', 'file', 'off')),
  -- The Message-ID header of what was sent.
  message_id text,
  -- The mail server's final reply ("250 2.0.0 Ok: queued as ..."), or its refusal.
  smtp_response text,
  -- Why a failed send failed, as the transport said it.
  error text,
  attempt integer,
  job_id uuid,
  -- The account behind the recipient, when there is one; kept as null once it is deleted.
  user_id uuid references users (id) on delete set null
);

create index email_log_at_idx on email_log (at desc, id desc);
create index email_log_recipient_idx on email_log (lower(recipient), at desc);
create index email_log_user_idx on email_log (user_id, at desc) where user_id is not null;
