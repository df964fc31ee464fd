drop table rate_limits;
drop table password_reset_tokens;
alter table users drop column token_version;
