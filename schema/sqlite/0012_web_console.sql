-- The web console (src/web): server-side sessions, and teams (a manager and their reps).
-- A session is found by the SHA-256 (hex) of its cookie, so a copy of this table logs no one in;
-- its CSRF token is checked on every POST. Sessions of a disabled rep stop working at once (the
-- lookup joins reps.active).
CREATE TABLE web_sessions (
    id            INTEGER PRIMARY KEY,
    secret_hash   TEXT    NOT NULL UNIQUE,
    rep_id        INTEGER NOT NULL REFERENCES reps(id) ON DELETE CASCADE,
    csrf_token    TEXT    NOT NULL,
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    expires_at    TEXT    NOT NULL
);
CREATE INDEX web_sessions_rep ON web_sessions(rep_id);

CREATE TABLE teams (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    manager_id    INTEGER REFERENCES reps(id) ON DELETE SET NULL,
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
ALTER TABLE reps ADD COLUMN team_id INTEGER REFERENCES teams(id) ON DELETE SET NULL;
CREATE INDEX reps_team ON reps(team_id);
