-- The version of the renderer (vCard or iCalendar, per collection kind) that wrote a collection's
-- stored member texts. A release that renders differently carries a new version, and a collection
-- recorded under another is re-rendered on its next refresh. 0: recorded before versions existed.
ALTER TABLE collections ADD COLUMN render_version INTEGER NOT NULL DEFAULT 0;
