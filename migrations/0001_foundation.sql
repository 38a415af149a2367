-- Foundation: API keys. Only the SHA-256 digest of a key is stored; the secret is shown once.
-- Times are integer milliseconds since the Unix epoch throughout the schema.
CREATE TABLE api_keys (
    id             TEXT PRIMARY KEY,          -- key_...
    name           TEXT NOT NULL,
    digest         TEXT NOT NULL UNIQUE,      -- hex SHA-256 of the whole key
    display_prefix TEXT NOT NULL,             -- first characters, to tell keys apart in lists
    scopes         TEXT NOT NULL,             -- JSON array of scope names
    created_at     INTEGER NOT NULL,
    created_by     TEXT NOT NULL,
    revoked_at     INTEGER
);
