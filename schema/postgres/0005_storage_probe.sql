-- What /healthz writes: one row of 64 KiB of random bytes, replaced at each probe, so that the
-- storage is reported healthy only while a write that needs new pages can commit (a full disk or a
-- failing device shows there, not only in refused PUTs).
CREATE TABLE storage_probe (
    id INTEGER PRIMARY KEY,
    checked_at TEXT NOT NULL,
    padding BYTEA NOT NULL
);
