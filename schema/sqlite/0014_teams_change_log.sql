-- change_log for teams (0012), as for every table whose rows change what a device sees: a team's
-- manager decides whose team calendar (caldav::team) and whose feed show the team's activities.
-- An entry names the team's manager (rep_id), and its former manager too when the manager changes,
-- so that only those managers' team calendars are recomputed. Who is in a team is reps.team_id,
-- logged by the reps triggers (0002).
CREATE TRIGGER teams_insert_log AFTER INSERT ON teams
BEGIN
    INSERT INTO change_log (entity, entity_id, op, rep_id) VALUES ('teams', NEW.id, 'insert', NEW.manager_id);
END;

CREATE TRIGGER teams_update_log AFTER UPDATE ON teams
BEGIN
    INSERT INTO change_log (entity, entity_id, op, rep_id) VALUES ('teams', NEW.id, 'update', NEW.manager_id);
    INSERT INTO change_log (entity, entity_id, op, rep_id)
        SELECT 'teams', OLD.id, 'update', OLD.manager_id WHERE OLD.manager_id IS NOT NEW.manager_id;
END;

CREATE TRIGGER teams_delete_log AFTER DELETE ON teams
BEGIN
    INSERT INTO change_log (entity, entity_id, op, rep_id) VALUES ('teams', OLD.id, 'delete', OLD.manager_id);
END;
