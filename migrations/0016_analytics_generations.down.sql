drop schema tusk_analytics cascade;
