-- Each change_log entry names what it touches, so that a collection is brought up to date by the
-- changes that concern it alone (store::incremental): the client (clients, contacts, notes,
-- activities), the activity (activities, notes) and the activity's rep. A row that moves (a contact
-- to another client, an activity to another rep or client, a note to another activity) logs its
-- old place too. 0007 is push_subscriptions.
ALTER TABLE change_log ADD COLUMN client_id INTEGER;
ALTER TABLE change_log ADD COLUMN activity_id INTEGER;
ALTER TABLE change_log ADD COLUMN rep_id INTEGER;

-- The CRM row each member is computed from (a card: its client; an event or task: its activity),
-- so that a change recomputes only the members of what it touches.
ALTER TABLE collection_members ADD COLUMN source_id INTEGER;
CREATE INDEX collection_members_source ON collection_members(collection, source_id);
-- An object shows its contact person: a change to a contact finds the activities that show it.
CREATE INDEX activities_contact ON activities(contact_id);
-- How far the change_log was applied to a collection: past `synced_seq` when the changes since
-- concerned none of its members (its sync-token then stays, and devices have nothing to fetch).
ALTER TABLE collections ADD COLUMN checked_seq INTEGER;
-- Members recorded before sources existed: every collection is computed in full once more.
UPDATE collections SET render_version = -1;

DROP TRIGGER clients_insert_log;
DROP TRIGGER clients_update_log;
DROP TRIGGER clients_delete_log;
DROP TRIGGER contacts_insert_log;
DROP TRIGGER contacts_update_log;
DROP TRIGGER contacts_delete_log;
DROP TRIGGER activities_insert_log;
DROP TRIGGER activities_update_log;
DROP TRIGGER activities_delete_log;
DROP TRIGGER notes_insert_log;
DROP TRIGGER notes_update_log;
DROP TRIGGER notes_delete_log;

CREATE TRIGGER clients_insert_log AFTER INSERT ON clients
BEGIN
    INSERT INTO change_log (entity, entity_id, op, client_id) VALUES ('clients', NEW.id, 'insert', NEW.id);
END;

CREATE TRIGGER clients_update_log AFTER UPDATE ON clients
BEGIN
    INSERT INTO change_log (entity, entity_id, op, client_id) VALUES ('clients', NEW.id, 'update', NEW.id);
END;

CREATE TRIGGER clients_delete_log AFTER DELETE ON clients
BEGIN
    INSERT INTO change_log (entity, entity_id, op, client_id) VALUES ('clients', OLD.id, 'delete', OLD.id);
END;

CREATE TRIGGER contacts_insert_log AFTER INSERT ON contacts
BEGIN
    INSERT INTO change_log (entity, entity_id, op, client_id) VALUES ('contacts', NEW.id, 'insert', NEW.client_id);
END;

CREATE TRIGGER contacts_update_log AFTER UPDATE ON contacts
BEGIN
    INSERT INTO change_log (entity, entity_id, op, client_id) VALUES ('contacts', NEW.id, 'update', NEW.client_id);
    INSERT INTO change_log (entity, entity_id, op, client_id)
        SELECT 'contacts', OLD.id, 'update', OLD.client_id WHERE OLD.client_id IS NOT NEW.client_id;
END;

CREATE TRIGGER contacts_delete_log AFTER DELETE ON contacts
BEGIN
    INSERT INTO change_log (entity, entity_id, op, client_id) VALUES ('contacts', OLD.id, 'delete', OLD.client_id);
END;

CREATE TRIGGER activities_insert_log AFTER INSERT ON activities
BEGIN
    INSERT INTO change_log (entity, entity_id, op, client_id, activity_id, rep_id)
        VALUES ('activities', NEW.id, 'insert', NEW.client_id, NEW.id, NEW.rep_id);
END;

CREATE TRIGGER activities_update_log AFTER UPDATE ON activities
BEGIN
    INSERT INTO change_log (entity, entity_id, op, client_id, activity_id, rep_id)
        VALUES ('activities', NEW.id, 'update', NEW.client_id, NEW.id, NEW.rep_id);
    INSERT INTO change_log (entity, entity_id, op, client_id, activity_id, rep_id)
        SELECT 'activities', OLD.id, 'update', OLD.client_id, OLD.id, OLD.rep_id
        WHERE OLD.rep_id IS NOT NEW.rep_id OR OLD.client_id IS NOT NEW.client_id;
END;

CREATE TRIGGER activities_delete_log AFTER DELETE ON activities
BEGIN
    INSERT INTO change_log (entity, entity_id, op, client_id, activity_id, rep_id)
        VALUES ('activities', OLD.id, 'delete', OLD.client_id, OLD.id, OLD.rep_id);
END;

CREATE TRIGGER notes_insert_log AFTER INSERT ON notes
BEGIN
    INSERT INTO change_log (entity, entity_id, op, client_id, activity_id)
        VALUES ('notes', NEW.id, 'insert', NEW.client_id, NEW.activity_id);
END;

CREATE TRIGGER notes_update_log AFTER UPDATE ON notes
BEGIN
    INSERT INTO change_log (entity, entity_id, op, client_id, activity_id)
        VALUES ('notes', NEW.id, 'update', NEW.client_id, NEW.activity_id);
    INSERT INTO change_log (entity, entity_id, op, client_id, activity_id)
        SELECT 'notes', OLD.id, 'update', OLD.client_id, OLD.activity_id
        WHERE OLD.client_id IS NOT NEW.client_id OR OLD.activity_id IS NOT NEW.activity_id;
END;

CREATE TRIGGER notes_delete_log AFTER DELETE ON notes
BEGIN
    INSERT INTO change_log (entity, entity_id, op, client_id, activity_id)
        VALUES ('notes', OLD.id, 'delete', OLD.client_id, OLD.activity_id);
END;
