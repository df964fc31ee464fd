drop table feature_flags;
drop function feature_flags_notify();
drop function feature_flags_touch();
