drop function tusk.flag_value(text, text, jsonb);
drop function tusk.flag_variant(text, text, jsonb);
drop function tusk.flag_enabled(text, text, jsonb);
drop function tusk.flag_evaluate(text, text, jsonb);
drop function tusk.flag_condition_matches(jsonb, jsonb);
drop function tusk.flag_bucket(text, text);
drop table tusk.flag_evaluations;
alter table feature_flags
  drop column rules,
  drop column variants,
  drop column default_variant,
  drop column client_visible;
drop schema if exists tusk;
