drop table email_log;
