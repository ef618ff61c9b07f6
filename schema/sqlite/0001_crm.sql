-- crmdav CRM schema, SQLite dialect (keep in step with schema/postgres/0001_crm.sql).
-- Timestamps are TEXT in UTC, 'YYYY-MM-DDTHH:MM:SSZ', so that they sort and compare as strings.
-- Money is in cents (INTEGER).

CREATE TABLE reps (
    id            INTEGER PRIMARY KEY,
    login         TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    email         TEXT    NOT NULL DEFAULT '',
    role          TEXT    NOT NULL DEFAULT 'rep' CHECK (role IN ('rep', 'manager', 'admin')),
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

-- Passwords are argon2 PHC strings. App and feed tokens are 256-bit random secrets, stored as their
-- SHA-256 (hex) so that a token can be found by an index lookup; a slow hash adds nothing to a
-- secret that cannot be guessed.
CREATE TABLE credentials (
    id            INTEGER PRIMARY KEY,
    rep_id        INTEGER NOT NULL REFERENCES reps(id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL CHECK (kind IN ('password', 'app-token', 'feed-token')),
    label         TEXT    NOT NULL DEFAULT '',
    secret_hash   TEXT    NOT NULL,
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    last_used_at  TEXT,
    revoked_at    TEXT
);
CREATE INDEX credentials_rep ON credentials(rep_id, kind);
CREATE UNIQUE INDEX credentials_token ON credentials(secret_hash) WHERE kind <> 'password';

CREATE TABLE clients (
    id                     INTEGER PRIMARY KEY,
    code                   TEXT    NOT NULL UNIQUE,
    name                   TEXT    NOT NULL,
    category               TEXT    NOT NULL DEFAULT '',
    status                 TEXT    NOT NULL DEFAULT 'active'
                                   CHECK (status IN ('prospect', 'active', 'inactive', 'closed')),
    territory              TEXT    NOT NULL DEFAULT '',
    account_manager_id     INTEGER REFERENCES reps(id) ON DELETE SET NULL,
    sales_ytd_cents        INTEGER NOT NULL DEFAULT 0,
    sales_last_year_cents  INTEGER NOT NULL DEFAULT 0,
    street                 TEXT    NOT NULL DEFAULT '',
    postal_code            TEXT    NOT NULL DEFAULT '',
    city                   TEXT    NOT NULL DEFAULT '',
    country                TEXT    NOT NULL DEFAULT '',
    phone                  TEXT    NOT NULL DEFAULT '',
    website                TEXT    NOT NULL DEFAULT '',
    updated_at             TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX clients_manager ON clients(account_manager_id);
CREATE INDEX clients_territory ON clients(territory);
CREATE INDEX clients_name ON clients(name);

-- `href` is the name of the card in address books (kept as the device chose it for cards created
-- on a device); `vcard_extra` keeps the properties of a device-written card that the CRM does not
-- model (photo, birthday, X-*), so that they come back unchanged.
CREATE TABLE contacts (
    id            INTEGER PRIMARY KEY,
    uid           TEXT    NOT NULL UNIQUE,
    href          TEXT    NOT NULL UNIQUE,
    client_id     INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    first_name    TEXT    NOT NULL DEFAULT '',
    last_name     TEXT    NOT NULL DEFAULT '',
    title         TEXT    NOT NULL DEFAULT '',
    email         TEXT    NOT NULL DEFAULT '',
    phone         TEXT    NOT NULL DEFAULT '',
    mobile        TEXT    NOT NULL DEFAULT '',
    street        TEXT    NOT NULL DEFAULT '',
    postal_code   TEXT    NOT NULL DEFAULT '',
    city          TEXT    NOT NULL DEFAULT '',
    country       TEXT    NOT NULL DEFAULT '',
    vcard_extra   TEXT,
    updated_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX contacts_client ON contacts(client_id);
CREATE INDEX contacts_email ON contacts(email);

-- `ical` is the last iCalendar object a device wrote, kept for a lossless round trip of what the
-- CRM does not model (alarms, attendees, recurrence, time zones). `range_end` is the end of the
-- last instance of a recurring activity (NULL: unbounded), so that time-range queries can select
-- candidates by index before expanding recurrences.
CREATE TABLE activities (
    id            INTEGER PRIMARY KEY,
    uid           TEXT    NOT NULL,
    href          TEXT    NOT NULL,
    rep_id        INTEGER NOT NULL REFERENCES reps(id) ON DELETE CASCADE,
    client_id     INTEGER REFERENCES clients(id) ON DELETE SET NULL,
    contact_id    INTEGER REFERENCES contacts(id) ON DELETE SET NULL,
    kind          TEXT    NOT NULL DEFAULT 'meeting' CHECK (kind IN ('meeting', 'call', 'visit', 'task')),
    subject       TEXT    NOT NULL DEFAULT '',
    location      TEXT    NOT NULL DEFAULT '',
    start_at      TEXT,
    end_at        TEXT,
    all_day       INTEGER NOT NULL DEFAULT 0 CHECK (all_day IN (0, 1)),
    timezone      TEXT    NOT NULL DEFAULT '',
    recurring     INTEGER NOT NULL DEFAULT 0 CHECK (recurring IN (0, 1)),
    range_end     TEXT,
    status        TEXT    NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'completed', 'cancelled')),
    completed_at  TEXT,
    ical          TEXT,
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    UNIQUE (rep_id, href),
    UNIQUE (rep_id, uid)
);
CREATE INDEX activities_rep_start ON activities(rep_id, start_at);
CREATE INDEX activities_client ON activities(client_id, status, completed_at);

CREATE TABLE notes (
    id            INTEGER PRIMARY KEY,
    client_id     INTEGER REFERENCES clients(id) ON DELETE CASCADE,
    activity_id   INTEGER REFERENCES activities(id) ON DELETE SET NULL,
    rep_id        INTEGER REFERENCES reps(id) ON DELETE SET NULL,
    body          TEXT    NOT NULL,
    source        TEXT    NOT NULL DEFAULT 'crm' CHECK (source IN ('dav', 'crm', 'api')),
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX notes_client ON notes(client_id, created_at);
CREATE INDEX notes_activity ON notes(activity_id);

-- A rule applies to one rep (rep_id) or to everyone (NULL). Its conditions are ANDed; a NULL
-- condition does not constrain. A rep sees a client iff some allow rule matches and no deny rule.
CREATE TABLE visibility_rules (
    id                      INTEGER PRIMARY KEY,
    position                INTEGER NOT NULL DEFAULT 0,
    rep_id                  INTEGER REFERENCES reps(id) ON DELETE CASCADE,
    effect                  TEXT    NOT NULL CHECK (effect IN ('allow', 'deny')),
    match_account_manager   INTEGER NOT NULL DEFAULT 0 CHECK (match_account_manager IN (0, 1)),
    territory               TEXT,
    statuses                TEXT,
    category                TEXT,
    client_id               INTEGER REFERENCES clients(id) ON DELETE CASCADE,
    created_at              TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

-- Every change to a CRM table, by crmdav or by any other program, recorded by the triggers below.
CREATE TABLE change_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    entity     TEXT    NOT NULL,
    entity_id  INTEGER NOT NULL,
    op         TEXT    NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
    at         TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

-- What each DAV collection held at each change: the source of sync-tokens, CTags and deletions.
-- `seq` is the change_log sequence at which the member last changed.
CREATE TABLE collections (
    key          TEXT    PRIMARY KEY,
    synced_seq   INTEGER NOT NULL DEFAULT 0,
    displayname  TEXT,
    color        TEXT
);
CREATE TABLE collection_members (
    collection  TEXT    NOT NULL REFERENCES collections(key) ON DELETE CASCADE,
    href        TEXT    NOT NULL,
    etag        TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    PRIMARY KEY (collection, href)
);
CREATE INDEX collection_members_seq ON collection_members(collection, seq);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    rep_id      INTEGER REFERENCES reps(id) ON DELETE SET NULL,
    device      TEXT    NOT NULL DEFAULT '',
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL DEFAULT '',
    outcome     TEXT    NOT NULL,
    before_data TEXT,
    after_data  TEXT
);
CREATE INDEX audit_log_rep ON audit_log(rep_id, at);
