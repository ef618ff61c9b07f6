-- change_log triggers: every insert/update/delete on a CRM table, whoever makes it.
-- The advisory lock makes change_log sequence order equal commit order: a transaction that has
-- taken a sequence number commits before the next one can take one. A reader that sees max(seq) = S
-- therefore knows every change up to S is visible, which is what sync-tokens rely on.
-- NOTIFY wakes the other crmdav instances sharing this database.
CREATE FUNCTION crmdav_log_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    row_id BIGINT;
BEGIN
    PERFORM pg_advisory_xact_lock(7301962);
    IF TG_OP = 'DELETE' THEN row_id := OLD.id; ELSE row_id := NEW.id; END IF;
    INSERT INTO change_log (entity, entity_id, op) VALUES (TG_TABLE_NAME, row_id, lower(TG_OP));
    PERFORM pg_notify('crmdav_changes', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

CREATE TRIGGER reps_log AFTER INSERT OR UPDATE OR DELETE ON reps
    FOR EACH ROW EXECUTE FUNCTION crmdav_log_change();

CREATE TRIGGER clients_log AFTER INSERT OR UPDATE OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION crmdav_log_change();

CREATE TRIGGER contacts_log AFTER INSERT OR UPDATE OR DELETE ON contacts
    FOR EACH ROW EXECUTE FUNCTION crmdav_log_change();

CREATE TRIGGER activities_log AFTER INSERT OR UPDATE OR DELETE ON activities
    FOR EACH ROW EXECUTE FUNCTION crmdav_log_change();

CREATE TRIGGER notes_log AFTER INSERT OR UPDATE OR DELETE ON notes
    FOR EACH ROW EXECUTE FUNCTION crmdav_log_change();

CREATE TRIGGER visibility_rules_log AFTER INSERT OR UPDATE OR DELETE ON visibility_rules
    FOR EACH ROW EXECUTE FUNCTION crmdav_log_change();
