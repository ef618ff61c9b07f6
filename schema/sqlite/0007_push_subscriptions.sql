-- WebDAV-Push (src/push). A device subscribes to one of a rep's collections with the Web Push
-- subscription its push service gave it (RFC 8030 push resource, RFC 8291 keys); the server
-- POSTs an encrypted push message there when the collection's content changes.
CREATE TABLE push_subscriptions (
    id            INTEGER PRIMARY KEY,
    -- The random, unguessable last segment of the registration URL (/dav/push/ID).
    registration  TEXT    NOT NULL UNIQUE,
    rep_id        INTEGER NOT NULL REFERENCES reps(id) ON DELETE CASCADE,
    -- The collection's key, as in collections.key: cards:7, activities:7, follow-ups:7.
    collection    TEXT    NOT NULL,
    -- The Web Push push resource (an https URL of the push service).
    push_resource TEXT    NOT NULL,
    -- The user agent's P-256 public key (p256dh) and auth secret, base64url without padding.
    public_key    TEXT    NOT NULL,
    auth_secret   TEXT    NOT NULL,
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    expires_at    TEXT    NOT NULL,
    -- The newest member sequence (collection_members.seq) of the collection this subscription was
    -- notified of, or that it had when it registered: a push is due when the collection passes it.
    -- Raising it is the claim that lets one crmdav instance only send each push.
    notified_seq  INTEGER NOT NULL DEFAULT 0,
    last_push_at  TEXT,
    UNIQUE (collection, push_resource)
);
CREATE INDEX push_subscriptions_rep ON push_subscriptions(rep_id);
CREATE INDEX push_subscriptions_expiry ON push_subscriptions(expires_at);

-- Secrets the server generates at first use and keeps: the VAPID key pair of WebDAV-Push
-- ('vapid-private-key', the P-256 scalar, base64url) and the secret push topics are derived from
-- ('push-topic-secret'). Kept in the database so that every instance on it uses the same ones and
-- subscriptions survive restarts and moves.
CREATE TABLE server_keys (
    name        TEXT    PRIMARY KEY,
    value       TEXT    NOT NULL,
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
