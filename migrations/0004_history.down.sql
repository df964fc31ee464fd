-- Removes audit history: the triggers, then the schema with every event.
select tusk_history.untrack(table_name::regclass) from tusk_history.tracked;
drop schema tusk_history cascade;
