-- Notes from the phone (crm::notes, crm::voice_notes). A note written on a device in the rep's
-- notes collection (a VJOURNAL) keeps the name and UID the device gave it, unique per rep; notes
-- written elsewhere have neither and are served under names the server makes (note-ID.ics).
ALTER TABLE notes ADD COLUMN uid TEXT;
ALTER TABLE notes ADD COLUMN href TEXT;
CREATE UNIQUE INDEX notes_rep_uid ON notes(rep_id, uid) WHERE uid IS NOT NULL;
CREATE UNIQUE INDEX notes_rep_href ON notes(rep_id, href) WHERE href IS NOT NULL;
-- The notes collection lists the notes of a window of days.
CREATE INDEX notes_created ON notes(created_at);

-- Voice notes: audio a device attached (inline, or RFC 8607 managed attachments) to a journal
-- entry, a report task or an event, stored once and served at /dav/voice-notes/ID. A voice note
-- belongs to a client and, when attached to one, an activity; note_id is the journal entry's note.
CREATE TABLE voice_notes (
    id            INTEGER PRIMARY KEY,
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
CREATE INDEX voice_notes_client ON voice_notes(client_id, created_at);
CREATE INDEX voice_notes_activity ON voice_notes(activity_id);
CREATE INDEX voice_notes_note ON voice_notes(note_id);

CREATE TRIGGER voice_notes_insert_log AFTER INSERT ON voice_notes
BEGIN
    INSERT INTO change_log (entity, entity_id, op, client_id, activity_id)
        VALUES ('voice_notes', NEW.id, 'insert', NEW.client_id, NEW.activity_id);
END;

CREATE TRIGGER voice_notes_update_log AFTER UPDATE ON voice_notes
BEGIN
    INSERT INTO change_log (entity, entity_id, op, client_id, activity_id)
        VALUES ('voice_notes', NEW.id, 'update', NEW.client_id, NEW.activity_id);
    INSERT INTO change_log (entity, entity_id, op, client_id, activity_id)
        SELECT 'voice_notes', OLD.id, 'update', OLD.client_id, OLD.activity_id
        WHERE OLD.client_id IS NOT NEW.client_id OR OLD.activity_id IS NOT NEW.activity_id;
END;

CREATE TRIGGER voice_notes_delete_log AFTER DELETE ON voice_notes
BEGIN
    INSERT INTO change_log (entity, entity_id, op, client_id, activity_id)
        VALUES ('voice_notes', OLD.id, 'delete', OLD.client_id, OLD.activity_id);
END;
