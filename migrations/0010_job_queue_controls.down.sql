select tusk_history.untrack('job_queue_controls');
drop table job_queue_controls;
drop function job_queue_controls_notify();
