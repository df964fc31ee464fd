drop table job_logs;
