drop table job_schedules_caught_up;
