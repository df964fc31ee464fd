drop table user_identities;
