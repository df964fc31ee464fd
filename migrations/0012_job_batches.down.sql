drop table job_batch_members;
drop table job_batches;
