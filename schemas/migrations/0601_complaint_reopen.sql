-- Complaints: when an unsatisfied customer last reopened one (the warning clock restarts there).
ALTER TABLE complaints ADD COLUMN reopened_at timestamptz;
