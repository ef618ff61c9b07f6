-- Results (orders and won deals) and objectives (per rep and period), beside the activities: the
-- reports compare what activity produced with what was planned, and a card's figures are computed
-- from results (crm::figures) instead of the stored clients.sales_* columns, which are no longer
-- read (kept so that programs writing them keep working; their figures move into results below).
-- Money is in cents (INTEGER), currencies are ISO 4217 codes, days are TEXT 'YYYY-MM-DD'.

-- `reference` is the order or deal number in the CRM it came from: the key an import upserts by.
-- `source`: who wrote it (crm: another program, api/import: crmdav, migration: the totals moved
-- below, demo: the demo CRM).
CREATE TABLE results (
    id            INTEGER PRIMARY KEY,
    reference     TEXT    NOT NULL UNIQUE,
    client_id     INTEGER NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    rep_id        INTEGER REFERENCES reps(id) ON DELETE SET NULL,
    activity_id   INTEGER REFERENCES activities(id) ON DELETE SET NULL,
    ordered_on    TEXT    NOT NULL CHECK (ordered_on GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    amount_cents  INTEGER NOT NULL,
    currency      TEXT    NOT NULL DEFAULT 'EUR' CHECK (length(currency) = 3 AND currency = upper(currency)),
    kind          TEXT    NOT NULL DEFAULT 'repeat' CHECK (kind IN ('new', 'repeat')),
    source        TEXT    NOT NULL DEFAULT 'crm' CHECK (source IN ('crm', 'api', 'import', 'migration', 'demo')),
    updated_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX results_client ON results(client_id, ordered_on);
CREATE INDEX results_rep ON results(rep_id, ordered_on);
CREATE INDEX results_activity ON results(activity_id);

-- What a rep is expected to reach in a period (both days included): an amount, a number of visits
-- completed, a number of new clients (clients whose first result is in the period).
CREATE TABLE objectives (
    id            INTEGER PRIMARY KEY,
    rep_id        INTEGER NOT NULL REFERENCES reps(id) ON DELETE CASCADE,
    period_start  TEXT    NOT NULL CHECK (period_start GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    period_end    TEXT    NOT NULL CHECK (period_end GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    amount_cents  INTEGER NOT NULL DEFAULT 0 CHECK (amount_cents >= 0),
    currency      TEXT    NOT NULL DEFAULT 'EUR' CHECK (length(currency) = 3 AND currency = upper(currency)),
    visits        INTEGER NOT NULL DEFAULT 0 CHECK (visits >= 0),
    new_clients   INTEGER NOT NULL DEFAULT 0 CHECK (new_clients >= 0),
    updated_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    CHECK (period_end >= period_start),
    UNIQUE (rep_id, period_start, period_end)
);

-- change_log as for every CRM table (0008): a result names its client (whose cards show the
-- figures), its rep and its activity; an objective its rep. A result moved to another client logs
-- its old client too.
CREATE TRIGGER results_insert_log AFTER INSERT ON results
BEGIN
    INSERT INTO change_log (entity, entity_id, op, client_id, activity_id, rep_id)
        VALUES ('results', NEW.id, 'insert', NEW.client_id, NEW.activity_id, NEW.rep_id);
END;

CREATE TRIGGER results_update_log AFTER UPDATE ON results
BEGIN
    INSERT INTO change_log (entity, entity_id, op, client_id, activity_id, rep_id)
        VALUES ('results', NEW.id, 'update', NEW.client_id, NEW.activity_id, NEW.rep_id);
    INSERT INTO change_log (entity, entity_id, op, client_id, activity_id, rep_id)
        SELECT 'results', OLD.id, 'update', OLD.client_id, OLD.activity_id, OLD.rep_id
        WHERE OLD.client_id IS NOT NEW.client_id;
END;

CREATE TRIGGER results_delete_log AFTER DELETE ON results
BEGIN
    INSERT INTO change_log (entity, entity_id, op, client_id, activity_id, rep_id)
        VALUES ('results', OLD.id, 'delete', OLD.client_id, OLD.activity_id, OLD.rep_id);
END;

CREATE TRIGGER objectives_insert_log AFTER INSERT ON objectives
BEGIN
    INSERT INTO change_log (entity, entity_id, op, rep_id) VALUES ('objectives', NEW.id, 'insert', NEW.rep_id);
END;

CREATE TRIGGER objectives_update_log AFTER UPDATE ON objectives
BEGIN
    INSERT INTO change_log (entity, entity_id, op, rep_id) VALUES ('objectives', NEW.id, 'update', NEW.rep_id);
END;

CREATE TRIGGER objectives_delete_log AFTER DELETE ON objectives
BEGIN
    INSERT INTO change_log (entity, entity_id, op, rep_id) VALUES ('objectives', OLD.id, 'delete', OLD.rep_id);
END;

-- The stored figures become results: this year's on 1 January, last year's on 31 December, in
-- the account manager's name, in EUR (the columns had no currency). Source 'migration': they are
-- totals, not orders, and never count as a card's last order.
INSERT INTO results (reference, client_id, rep_id, ordered_on, amount_cents, kind, source)
    SELECT 'migrated-' || code || '-' || strftime('%Y', 'now'), id, account_manager_id,
           date('now', 'start of year'), sales_ytd_cents, 'repeat', 'migration'
    FROM clients WHERE sales_ytd_cents <> 0;
INSERT INTO results (reference, client_id, rep_id, ordered_on, amount_cents, kind, source)
    SELECT 'migrated-' || code || '-' || strftime('%Y', 'now', 'start of year', '-1 day'), id, account_manager_id,
           date('now', 'start of year', '-1 day'), sales_last_year_cents, 'repeat', 'migration'
    FROM clients WHERE sales_last_year_cents <> 0;
