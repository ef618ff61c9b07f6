-- change_log for teams (0012), as for every table whose rows change what a device sees: a team's
-- manager decides whose team calendar (caldav::team) and whose feed show the team's activities.
-- An entry names the team's manager (rep_id), and its former manager too when the manager changes,
-- so that only those managers' team calendars are recomputed. Who is in a team is reps.team_id,
-- logged by the reps trigger (0002). A function of its own, as 0011's (crmdav_log_change stays).
CREATE FUNCTION crmdav_log_team_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    change_op TEXT := lower(TG_OP);
BEGIN
    PERFORM pg_advisory_xact_lock(7301962);
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO change_log (entity, entity_id, op, rep_id) VALUES ('teams', NEW.id, change_op, NEW.manager_id);
    END IF;
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.manager_id IS DISTINCT FROM NEW.manager_id) THEN
        INSERT INTO change_log (entity, entity_id, op, rep_id) VALUES ('teams', OLD.id, change_op, OLD.manager_id);
    END IF;
    PERFORM pg_notify('crmdav_changes', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

CREATE TRIGGER teams_log AFTER INSERT OR UPDATE OR DELETE ON teams
    FOR EACH ROW EXECUTE FUNCTION crmdav_log_team_change();
