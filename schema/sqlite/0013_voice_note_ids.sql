-- A voice note's id is its RFC 8607 MANAGED-ID and its URL (/dav/voice-notes/ID): it must never be
-- given again once a voice note is removed or replaced, or a device holding the old URL would play
-- another recording. SQLite reuses the largest rowid after a delete unless the key is
-- AUTOINCREMENT, so the table is rebuilt with one (ids and rows kept; the triggers of 0010 again,
-- which now also log the journal entry (note) a voice note is on as a change of that note: the
-- notes collection then recomputes that entry alone instead of every entry).
CREATE TABLE voice_notes_rebuilt (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id     INTEGER REFERENCES clients(id) ON DELETE CASCADE,
    activity_id   INTEGER REFERENCES activities(id) ON DELETE SET NULL,
    note_id       INTEGER REFERENCES notes(id) ON DELETE SET NULL,
    rep_id        INTEGER REFERENCES reps(id) ON DELETE SET NULL,
    content_type  TEXT    NOT NULL,
    size_bytes    INTEGER NOT NULL,
    sha256        TEXT    NOT NULL,
    duration_ms   INTEGER,
    filename      TEXT,
    bytes         BLOB    NOT NULL,
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
INSERT INTO voice_notes_rebuilt (id, client_id, activity_id, note_id, rep_id, content_type, size_bytes, sha256,
                                 duration_ms, filename, bytes, created_at)
    SELECT id, client_id, activity_id, note_id, rep_id, content_type, size_bytes, sha256,
           duration_ms, filename, bytes, created_at FROM voice_notes;
DROP TABLE voice_notes;
ALTER TABLE voice_notes_rebuilt RENAME TO voice_notes;
CREATE INDEX voice_notes_client ON voice_notes(client_id, created_at);
CREATE INDEX voice_notes_activity ON voice_notes(activity_id);
CREATE INDEX voice_notes_note ON voice_notes(note_id);
-- The same audio is stored once per activity or note (crm::voice_notes::SAME_AUDIO).
CREATE INDEX voice_notes_sha256 ON voice_notes(sha256);

CREATE TRIGGER voice_notes_insert_log AFTER INSERT ON voice_notes
BEGIN
    INSERT INTO change_log (entity, entity_id, op, client_id, activity_id)
        VALUES ('voice_notes', NEW.id, 'insert', NEW.client_id, NEW.activity_id);
    INSERT INTO change_log (entity, entity_id, op, client_id, activity_id)
        SELECT 'notes', NEW.note_id, 'update', NEW.client_id, NEW.activity_id WHERE NEW.note_id IS NOT NULL;
END;

CREATE TRIGGER voice_notes_update_log AFTER UPDATE ON voice_notes
BEGIN
    INSERT INTO change_log (entity, entity_id, op, client_id, activity_id)
        VALUES ('voice_notes', NEW.id, 'update', NEW.client_id, NEW.activity_id);
    INSERT INTO change_log (entity, entity_id, op, client_id, activity_id)
        SELECT 'voice_notes', OLD.id, 'update', OLD.client_id, OLD.activity_id
        WHERE OLD.client_id IS NOT NEW.client_id OR OLD.activity_id IS NOT NEW.activity_id;
    INSERT INTO change_log (entity, entity_id, op, client_id, activity_id)
        SELECT 'notes', NEW.note_id, 'update', NEW.client_id, NEW.activity_id WHERE NEW.note_id IS NOT NULL;
    INSERT INTO change_log (entity, entity_id, op, client_id, activity_id)
        SELECT 'notes', OLD.note_id, 'update', OLD.client_id, OLD.activity_id
        WHERE OLD.note_id IS NOT NULL AND OLD.note_id IS NOT NEW.note_id;
END;

CREATE TRIGGER voice_notes_delete_log AFTER DELETE ON voice_notes
BEGIN
    INSERT INTO change_log (entity, entity_id, op, client_id, activity_id)
        VALUES ('voice_notes', OLD.id, 'delete', OLD.client_id, OLD.activity_id);
    INSERT INTO change_log (entity, entity_id, op, client_id, activity_id)
        SELECT 'notes', OLD.note_id, 'update', OLD.client_id, OLD.activity_id WHERE OLD.note_id IS NOT NULL;
END;
