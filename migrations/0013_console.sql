-- The console's sign-in sessions (owned by the console worker), and the index its lead search
-- pages through (newest first, by created_at then id).

CREATE INDEX leads_created ON leads (created_at, id);

-- A browser session: started by signing in with an API key, ended by signing out, by expiry or
-- by revoking the key. Only the digest of the session token is stored (the cookie holds the
-- token), as with API keys. `key_id` is the key's id (`bootstrap` for ADMIN_API_KEY, whose digest
-- is kept in `key_digest` so that changing ADMIN_API_KEY ends its sessions).
CREATE TABLE console_sessions (
    digest      TEXT PRIMARY KEY,
    key_id      TEXT NOT NULL,
    key_digest  TEXT,
    name        TEXT NOT NULL,
    scopes      TEXT NOT NULL,      -- JSON array, as the key had at sign-in
    csrf        TEXT NOT NULL,      -- the token every state-changing form carries
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    ended_at    INTEGER
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
