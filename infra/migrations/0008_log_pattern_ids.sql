-- The pattern id of each stored log line: the template the worker's pattern miner put the line
-- in (`lookout.patterns`, joined by the sinks; docs/LOGS.md "Pattern ids on stored lines").
-- NULL: the line is not mined (nginx access lines), or its id did not come within
-- LOOKOUT_SINK_PATTERN_WAIT (counted in lookout_sink_pattern_unresolved_total).
ALTER TABLE error_logs ADD COLUMN pattern_id text;
ALTER TABLE application_logs ADD COLUMN pattern_id text;
COMMENT ON COLUMN error_logs.pattern_id IS
    'Pattern (message template) id from the worker''s miner, as GET /api/logs/patterns lists it.';
COMMENT ON COLUMN application_logs.pattern_id IS
    'Pattern (message template) id from the worker''s miner, as GET /api/logs/patterns lists it.';
CREATE INDEX error_logs_pattern_time_idx ON error_logs (pattern_id, time);
CREATE INDEX application_logs_pattern_time_idx ON application_logs (pattern_id, time);
