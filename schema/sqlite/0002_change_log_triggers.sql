-- change_log triggers: every insert/update/delete on a CRM table, whoever makes it.

CREATE TRIGGER reps_insert_log AFTER INSERT ON reps
BEGIN
    INSERT INTO change_log (entity, entity_id, op) VALUES ('reps', NEW.id, 'insert');
END;

CREATE TRIGGER reps_update_log AFTER UPDATE ON reps
BEGIN
    INSERT INTO change_log (entity, entity_id, op) VALUES ('reps', NEW.id, 'update');
END;

CREATE TRIGGER reps_delete_log AFTER DELETE ON reps
BEGIN
    INSERT INTO change_log (entity, entity_id, op) VALUES ('reps', OLD.id, 'delete');
END;

CREATE TRIGGER clients_insert_log AFTER INSERT ON clients
BEGIN
    INSERT INTO change_log (entity, entity_id, op) VALUES ('clients', NEW.id, 'insert');
END;

CREATE TRIGGER clients_update_log AFTER UPDATE ON clients
BEGIN
    INSERT INTO change_log (entity, entity_id, op) VALUES ('clients', NEW.id, 'update');
END;

CREATE TRIGGER clients_delete_log AFTER DELETE ON clients
BEGIN
    INSERT INTO change_log (entity, entity_id, op) VALUES ('clients', OLD.id, 'delete');
END;

CREATE TRIGGER contacts_insert_log AFTER INSERT ON contacts
BEGIN
    INSERT INTO change_log (entity, entity_id, op) VALUES ('contacts', NEW.id, 'insert');
END;

CREATE TRIGGER contacts_update_log AFTER UPDATE ON contacts
BEGIN
    INSERT INTO change_log (entity, entity_id, op) VALUES ('contacts', NEW.id, 'update');
END;

CREATE TRIGGER contacts_delete_log AFTER DELETE ON contacts
BEGIN
    INSERT INTO change_log (entity, entity_id, op) VALUES ('contacts', OLD.id, 'delete');
END;

CREATE TRIGGER activities_insert_log AFTER INSERT ON activities
BEGIN
    INSERT INTO change_log (entity, entity_id, op) VALUES ('activities', NEW.id, 'insert');
END;

CREATE TRIGGER activities_update_log AFTER UPDATE ON activities
BEGIN
    INSERT INTO change_log (entity, entity_id, op) VALUES ('activities', NEW.id, 'update');
END;

CREATE TRIGGER activities_delete_log AFTER DELETE ON activities
BEGIN
    INSERT INTO change_log (entity, entity_id, op) VALUES ('activities', OLD.id, 'delete');
END;

CREATE TRIGGER notes_insert_log AFTER INSERT ON notes
BEGIN
    INSERT INTO change_log (entity, entity_id, op) VALUES ('notes', NEW.id, 'insert');
END;

CREATE TRIGGER notes_update_log AFTER UPDATE ON notes
BEGIN
    INSERT INTO change_log (entity, entity_id, op) VALUES ('notes', NEW.id, 'update');
END;

CREATE TRIGGER notes_delete_log AFTER DELETE ON notes
BEGIN
    INSERT INTO change_log (entity, entity_id, op) VALUES ('notes', OLD.id, 'delete');
END;

CREATE TRIGGER visibility_rules_insert_log AFTER INSERT ON visibility_rules
BEGIN
    INSERT INTO change_log (entity, entity_id, op) VALUES ('visibility_rules', NEW.id, 'insert');
END;

CREATE TRIGGER visibility_rules_update_log AFTER UPDATE ON visibility_rules
BEGIN
    INSERT INTO change_log (entity, entity_id, op) VALUES ('visibility_rules', NEW.id, 'update');
END;

CREATE TRIGGER visibility_rules_delete_log AFTER DELETE ON visibility_rules
BEGIN
    INSERT INTO change_log (entity, entity_id, op) VALUES ('visibility_rules', OLD.id, 'delete');
END;
