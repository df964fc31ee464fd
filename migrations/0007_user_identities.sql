-- Users known through an external identity provider (AUTH_ISSUERS): one row per issuer and
-- subject. When the local user is deleted the row stays with user_id null, so that identity is
-- refused from then on instead of being provisioned again.

create table user_identities (
  issuer text not null,
  subject text not null,
  user_id uuid references users (id) on delete set null,
  -- The email the provider gave at first sight, for operators.
  email text,
  created_at timestamptz not null default now(),
  primary key (issuer, subject)
);
create index user_identities_user_idx on user_identities (user_id);
