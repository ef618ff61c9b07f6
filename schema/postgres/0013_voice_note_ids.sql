-- A voice note's id is its RFC 8607 MANAGED-ID and its URL (/dav/voice-notes/ID): never given
-- again once removed (an identity does not reuse values; SQLite needed AUTOINCREMENT, its 0013).
COMMENT ON COLUMN voice_notes.id IS 'RFC 8607 MANAGED-ID and /dav/voice-notes/ID: never reused';
-- The same audio is stored once per activity or note (crm::voice_notes::SAME_AUDIO).
CREATE INDEX voice_notes_sha256 ON voice_notes(sha256);

-- The journal entry (note) a voice note is on is logged as a change of that note too, so that the
-- notes collection recomputes that entry alone instead of every entry (as 0010, plus the notes).
CREATE OR REPLACE FUNCTION crmdav_log_voice_note() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    change_op TEXT := lower(TG_OP);
BEGIN
    PERFORM pg_advisory_xact_lock(7301962);
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO change_log (entity, entity_id, op, client_id, activity_id)
            VALUES ('voice_notes', NEW.id, change_op, NEW.client_id, NEW.activity_id);
        IF NEW.note_id IS NOT NULL THEN
            INSERT INTO change_log (entity, entity_id, op, client_id, activity_id)
                VALUES ('notes', NEW.note_id, 'update', NEW.client_id, NEW.activity_id);
        END IF;
    END IF;
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND (OLD.client_id IS DISTINCT FROM NEW.client_id
            OR OLD.activity_id IS DISTINCT FROM NEW.activity_id)) THEN
        INSERT INTO change_log (entity, entity_id, op, client_id, activity_id)
            VALUES ('voice_notes', OLD.id, change_op, OLD.client_id, OLD.activity_id);
    END IF;
    IF TG_OP = 'DELETE' THEN
        IF OLD.note_id IS NOT NULL THEN
            INSERT INTO change_log (entity, entity_id, op, client_id, activity_id)
                VALUES ('notes', OLD.note_id, 'update', OLD.client_id, OLD.activity_id);
        END IF;
    ELSIF TG_OP = 'UPDATE' THEN
        IF OLD.note_id IS NOT NULL AND OLD.note_id IS DISTINCT FROM NEW.note_id THEN
            INSERT INTO change_log (entity, entity_id, op, client_id, activity_id)
                VALUES ('notes', OLD.note_id, 'update', OLD.client_id, OLD.activity_id);
        END IF;
    END IF;
    PERFORM pg_notify('crmdav_changes', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;
