-- Users and their items: the tables behind the template-compatible API.

create table users (
  id uuid primary key default gen_random_uuid(),
  email text not null check (char_length(email) between 3 and 255),
  hashed_password text not null,
  full_name text check (char_length(full_name) <= 255),
  is_active boolean not null default true,
  is_superuser boolean not null default false,
  created_at timestamptz not null default now()
);

-- Emails are unique regardless of case, enforced here so that two concurrent
-- signups cannot both win.
create unique index users_email_lower_key on users (lower(email));
-- GET /users/: newest first, paginated.
create index users_created_at_idx on users (created_at desc, id desc);

create table items (
  id uuid primary key default gen_random_uuid(),
  title text not null check (char_length(title) between 1 and 255),
  description text check (char_length(description) <= 255),
  owner_id uuid not null references users (id) on delete cascade,
  created_at timestamptz not null default now()
);

-- GET /items/ for a user (own items, newest first) and the cascade on user delete.
create index items_owner_created_at_idx on items (owner_id, created_at desc, id desc);
-- GET /items/ for a superuser (all items, newest first).
create index items_created_at_idx on items (created_at desc, id desc);
