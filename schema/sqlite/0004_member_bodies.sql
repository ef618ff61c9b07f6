-- The text each member was served with when its collection was last brought up to date (vCard 3.0
-- or iCalendar), stored beside its ETag: multiget, PROPFIND and sync-collection with data answer
-- from it instead of rebuilding every card and event from the CRM rows. NULL for deletions.
ALTER TABLE collection_members ADD COLUMN body TEXT;

-- Members recorded before this column have no text yet: mark every collection out of date so its
-- next refresh fills them in (without changing their sync sequence, so no client re-downloads).
UPDATE collections SET synced_seq = -1;
