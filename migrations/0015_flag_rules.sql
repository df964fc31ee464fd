-- Feature flags, second generation: rules evaluated in order (first match wins), sticky
-- percentage rollouts, variants, and the same evaluation in SQL as in the application.
-- A flag without rules or variants behaves as before: on when is_active, for everyone.

create schema if not exists tusk;

alter table feature_flags
  add column rules jsonb not null default '[]' check (jsonb_typeof(rules) = 'array'),
  add column variants jsonb check (variants is null or jsonb_typeof(variants) = 'object'),
  add column default_variant text check (char_length(default_variant) <= 100),
  add column client_visible boolean not null default false;

-- When each flag was last evaluated by the application (flushed by every process about once
-- a minute), for stale-flag detection. Kept apart so that recording it neither notifies the
-- flag caches nor writes audit history.
create table tusk.flag_evaluations (
  codename text primary key
    references feature_flags (codename) on delete cascade on update cascade,
  last_evaluated_at timestamptz not null
);

-- A subject's bucket in [0, 10000) for one flag: the first four bytes of
-- SHA-256("<salt>/<subject>"), big-endian, modulo 10000. services/flag_rules.ts computes the
-- same number; a subject keeps its bucket, so it stays in a rollout as the percentage grows.
create function tusk.flag_bucket(salt text, subject text) returns integer
language sql immutable strict parallel safe as $$
  select ((('x' || encode(substr(sha256(convert_to(salt || '/' || subject, 'UTF8')), 1, 4), 'hex'))
    ::bit(32)::bigint) % 10000)::integer
$$;

-- One condition of a rule against the subject's attributes. A missing (or null) attribute
-- matches no operator.
create function tusk.flag_condition_matches(condition jsonb, attributes jsonb) returns boolean
language plpgsql immutable parallel safe as $$
declare
  a jsonb := attributes -> (condition ->> 'attribute');
  v jsonb := condition -> 'value';
begin
  if a is null or jsonb_typeof(a) = 'null' then
    return false;
  end if;
  case condition ->> 'operator'
    when 'exists' then return true;
    when 'eq' then return a = v;
    when 'neq' then return a <> v;
    when 'in' then return v @> jsonb_build_array(a);
    when 'not_in' then return not (v @> jsonb_build_array(a));
    when 'starts_with' then
      return jsonb_typeof(a) = 'string' and starts_with(a #>> '{}', v #>> '{}');
    when 'ends_with' then
      return jsonb_typeof(a) = 'string'
        and right(a #>> '{}', char_length(v #>> '{}')) = v #>> '{}';
    when 'contains' then
      return jsonb_typeof(a) = 'string' and strpos(a #>> '{}', v #>> '{}') > 0;
    when 'lt' then return jsonb_typeof(a) = 'number' and a::numeric < v::numeric;
    when 'lte' then return jsonb_typeof(a) = 'number' and a::numeric <= v::numeric;
    when 'gt' then return jsonb_typeof(a) = 'number' and a::numeric > v::numeric;
    when 'gte' then return jsonb_typeof(a) = 'number' and a::numeric >= v::numeric;
    else
      raise exception 'feature flag condition: unknown operator %', condition ->> 'operator';
  end case;
end
$$;

-- The whole evaluation, as services/flag_rules.ts does it: {value, variant, reason, rule}
-- (rule: the index of the rule that matched; a switched-off flag gives reason DISABLED with
-- 'off' or its default variant), or {reason: 'ERROR', error} when the flag does not exist
-- or a rule that needs a subject key is reached without one.
create function tusk.flag_evaluate(
  flag_key text,
  subject_key text default null,
  attributes jsonb default '{}'
) returns jsonb
language plpgsql stable parallel safe as $$
declare
  f feature_flags;
  attrs jsonb := coalesce(attributes, '{}');
  subject text;
  variants jsonb;
  rule jsonb;
  position integer;
  conditions jsonb;
  k integer;
  matched boolean;
  share jsonb;
  bucket integer;
  total integer;
  chosen text;
begin
  select * into f from feature_flags where codename = flag_key;
  if not found then
    return jsonb_build_object('reason', 'ERROR', 'error', 'FLAG_NOT_FOUND');
  end if;
  variants := coalesce(f.variants, '{"on": true, "off": false}');
  if not f.is_active then
    chosen := case when f.variants is null then 'off' else f.default_variant end;
    return jsonb_build_object('value', variants -> chosen, 'variant', chosen, 'reason', 'DISABLED');
  end if;
  -- The subject key is the attributes' targetingKey (subject_key, when given, replaces it);
  -- percentages need it to be a non-empty string.
  if subject_key is not null then
    attrs := attrs || jsonb_build_object('targetingKey', subject_key);
  end if;
  subject := case
    when jsonb_typeof(attrs -> 'targetingKey') = 'string' and attrs ->> 'targetingKey' <> ''
    then attrs ->> 'targetingKey'
  end;

  -- Loops by index rather than over jsonb_array_elements(): each of those is a query of its
  -- own, and this runs once per row when a query evaluates a flag for every row.
  for position in 0 .. jsonb_array_length(f.rules) - 1 loop
    rule := f.rules -> position;
    conditions := coalesce(rule -> 'conditions', '[]');
    matched := true;
    for k in 0 .. jsonb_array_length(conditions) - 1 loop
      if not tusk.flag_condition_matches(conditions -> k, attrs) then
        matched := false;
        exit;
      end if;
    end loop;
    continue when not matched;
    if (rule ? 'percentage' or rule ? 'split') and subject is null then
      return jsonb_build_object('reason', 'ERROR', 'error', 'TARGETING_KEY_MISSING', 'rule', position);
    end if;
    if rule ? 'percentage'
      and tusk.flag_bucket(flag_key, subject) >= round((rule ->> 'percentage')::numeric * 100) then
      continue;
    end if;
    if rule ? 'split' then
      bucket := tusk.flag_bucket(flag_key || '/split', subject);
      total := 0;
      chosen := null;
      for k in 0 .. jsonb_array_length(rule -> 'split') - 1 loop
        share := rule -> 'split' -> k;
        total := total + (share ->> 'weight')::integer * 100;
        chosen := share ->> 'variant';
        exit when bucket < total;
      end loop;
    else
      chosen := rule ->> 'variant';
    end if;
    return jsonb_build_object(
      'value', variants -> chosen,
      'variant', chosen,
      'reason', case when rule ? 'percentage' or rule ? 'split' then 'SPLIT' else 'TARGETING_MATCH' end,
      'rule', position
    );
  end loop;

  chosen := coalesce(f.default_variant, case when jsonb_array_length(f.rules) = 0 then 'on' else 'off' end);
  return jsonb_build_object(
    'value', variants -> chosen,
    'variant', chosen,
    'reason', case when jsonb_array_length(f.rules) = 0 then 'STATIC' else 'DEFAULT' end
  );
end
$$;

-- True when the flag's value for the subject is true (a missing flag, an error or a
-- non-boolean value is false).
create function tusk.flag_enabled(
  flag_key text,
  subject_key text default null,
  attributes jsonb default '{}'
) returns boolean
language sql stable parallel safe as $$
  select coalesce(tusk.flag_evaluate(flag_key, subject_key, attributes) -> 'value' = 'true', false)
$$;

-- The variant served to the subject (null for an error).
create function tusk.flag_variant(
  flag_key text,
  subject_key text default null,
  attributes jsonb default '{}'
) returns text
language sql stable parallel safe as $$
  select tusk.flag_evaluate(flag_key, subject_key, attributes) ->> 'variant'
$$;

-- The variant's value (jsonb; null when there is none).
create function tusk.flag_value(
  flag_key text,
  subject_key text default null,
  attributes jsonb default '{}'
) returns jsonb
language sql stable parallel safe as $$
  select tusk.flag_evaluate(flag_key, subject_key, attributes) -> 'value'
$$;
