-- A voice note's id is its RFC 8607 MANAGED-ID and its URL (/dav/voice-notes/ID): never given
-- again once removed (an identity does not reuse values; SQLite needed AUTOINCREMENT, its 0013).
COMMENT ON COLUMN voice_notes.id IS 'RFC 8607 MANAGED-ID and /dav/voice-notes/ID: never reused';
-- The same audio is stored once per activity or note (crm::voice_notes::SAME_AUDIO).
CREATE INDEX voice_notes_sha256 ON voice_notes(sha256);
