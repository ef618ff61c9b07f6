-- Each change_log entry names what it touches, so that a collection is brought up to date by the
-- changes that concern it alone (store::incremental): the client (clients, contacts, notes,
-- activities), the activity (activities, notes) and the activity's rep. A row that moves (a contact
-- to another client, an activity to another rep or client, a note to another activity) logs its
-- old place too. 0007 is push_subscriptions.
ALTER TABLE change_log ADD COLUMN client_id BIGINT;
ALTER TABLE change_log ADD COLUMN activity_id BIGINT;
ALTER TABLE change_log ADD COLUMN rep_id BIGINT;

-- The CRM row each member is computed from (a card: its client; an event or task: its activity),
-- so that a change recomputes only the members of what it touches.
ALTER TABLE collection_members ADD COLUMN source_id BIGINT;
CREATE INDEX collection_members_source ON collection_members(collection, source_id);
-- An object shows its contact person: a change to a contact finds the activities that show it.
CREATE INDEX activities_contact ON activities(contact_id);
-- How far the change_log was applied to a collection: past `synced_seq` when the changes since
-- concerned none of its members (its sync-token then stays, and devices have nothing to fetch).
ALTER TABLE collections ADD COLUMN checked_seq BIGINT;
-- Members recorded before sources existed: every collection is computed in full once more.
UPDATE collections SET render_version = -1;

-- Field accesses are resolved per branch when it runs: NEW.client_id is read only on tables that
-- have it.
CREATE OR REPLACE FUNCTION crmdav_log_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    change_op TEXT := lower(TG_OP);
BEGIN
    PERFORM pg_advisory_xact_lock(7301962);
    IF TG_TABLE_NAME = 'clients' THEN
        IF TG_OP <> 'DELETE' THEN
            INSERT INTO change_log (entity, entity_id, op, client_id) VALUES ('clients', NEW.id, change_op, NEW.id);
        ELSE
            INSERT INTO change_log (entity, entity_id, op, client_id) VALUES ('clients', OLD.id, change_op, OLD.id);
        END IF;
    ELSIF TG_TABLE_NAME = 'contacts' THEN
        IF TG_OP <> 'DELETE' THEN
            INSERT INTO change_log (entity, entity_id, op, client_id) VALUES ('contacts', NEW.id, change_op, NEW.client_id);
        END IF;
        IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.client_id IS DISTINCT FROM NEW.client_id) THEN
            INSERT INTO change_log (entity, entity_id, op, client_id) VALUES ('contacts', OLD.id, change_op, OLD.client_id);
        END IF;
    ELSIF TG_TABLE_NAME = 'activities' THEN
        IF TG_OP <> 'DELETE' THEN
            INSERT INTO change_log (entity, entity_id, op, client_id, activity_id, rep_id)
                VALUES ('activities', NEW.id, change_op, NEW.client_id, NEW.id, NEW.rep_id);
        END IF;
        IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND (OLD.rep_id IS DISTINCT FROM NEW.rep_id
                OR OLD.client_id IS DISTINCT FROM NEW.client_id)) THEN
            INSERT INTO change_log (entity, entity_id, op, client_id, activity_id, rep_id)
                VALUES ('activities', OLD.id, change_op, OLD.client_id, OLD.id, OLD.rep_id);
        END IF;
    ELSIF TG_TABLE_NAME = 'notes' THEN
        IF TG_OP <> 'DELETE' THEN
            INSERT INTO change_log (entity, entity_id, op, client_id, activity_id)
                VALUES ('notes', NEW.id, change_op, NEW.client_id, NEW.activity_id);
        END IF;
        IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND (OLD.client_id IS DISTINCT FROM NEW.client_id
                OR OLD.activity_id IS DISTINCT FROM NEW.activity_id)) THEN
            INSERT INTO change_log (entity, entity_id, op, client_id, activity_id)
                VALUES ('notes', OLD.id, change_op, OLD.client_id, OLD.activity_id);
        END IF;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO change_log (entity, entity_id, op) VALUES (TG_TABLE_NAME, OLD.id, change_op);
    ELSE
        INSERT INTO change_log (entity, entity_id, op) VALUES (TG_TABLE_NAME, NEW.id, change_op);
    END IF;
    PERFORM pg_notify('crmdav_changes', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;
