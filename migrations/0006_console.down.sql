select tusk_history.untrack('feature_flags');
drop table console_sessions;
