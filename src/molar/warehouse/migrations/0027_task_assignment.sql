-- Work queues in the console: who took a staff task (NULL: nobody yet), and how it ended
-- (outcome: reached | no_answer | booked | resolved | not_needed; see delivery/tasks.py).
ALTER TABLE ops.task ADD COLUMN IF NOT EXISTS assigned_to VARCHAR;
ALTER TABLE ops.task ADD COLUMN IF NOT EXISTS assigned_at TIMESTAMP;
ALTER TABLE ops.task ADD COLUMN IF NOT EXISTS outcome VARCHAR;
