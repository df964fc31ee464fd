drop schema tusk_events cascade;
