-- Report tasks (crm::report_tasks). When a planned activity's end has passed, the server asks its
-- rep for a report by setting report_requested_at: an UPDATE the change_log records, so the
-- follow-ups calendars show the report task through their incremental refresh (time passing
-- alone logs nothing). report_draft: what the rep wrote in the report task before ticking it done.
ALTER TABLE activities ADD COLUMN report_requested_at TIMESTAMPTZ;
ALTER TABLE activities ADD COLUMN report_draft TEXT;
-- What the background check reads: planned activities not yet asked for a report.
CREATE INDEX activities_report_pending ON activities(end_at) WHERE status = 'planned' AND report_requested_at IS NULL;
