-- One schema for SQLite and PostgreSQL: only TEXT and BIGINT columns, ids made
-- by the service, times as Unix seconds. Deletes are explicit in the code;
-- the foreign keys are the safety net.

CREATE TABLE households (
    id          TEXT PRIMARY KEY,
    created_at  BIGINT NOT NULL
);

-- Every login belongs to exactly one household, as its owner or as a
-- read-only viewer the owner invited.
CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,  -- trimmed, lower case
    password_hash  TEXT NOT NULL,         -- argon2id PHC string
    household_id   TEXT NOT NULL REFERENCES households (id),
    role           TEXT NOT NULL CHECK (role IN ('owner', 'viewer')),
    created_at     BIGINT NOT NULL
);
CREATE INDEX users_household ON users (household_id);

CREATE TABLE invites (
    token_hash    TEXT PRIMARY KEY,       -- SHA-256 of the token, hex
    household_id  TEXT NOT NULL REFERENCES households (id),
    email         TEXT NOT NULL,
    expires_at    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX invites_household ON invites (household_id);

-- Rotating refresh tokens: each use marks the token used and issues the next
-- one in the same family; presenting a used or revoked token revokes the family.
CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,         -- SHA-256 of the token, hex
    family_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id),
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    revoked_at  BIGINT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE devices (
    id            TEXT PRIMARY KEY,       -- also the device's RabbitMQ user name
    household_id  TEXT NOT NULL REFERENCES households (id),
    name          TEXT NOT NULL,
    secret_hash   TEXT NOT NULL,          -- SHA-256 of the secret, hex
    created_at    BIGINT NOT NULL
);
CREATE INDEX devices_household ON devices (household_id);

CREATE TABLE sockets (
    device_id  TEXT NOT NULL REFERENCES devices (id),
    socket_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    PRIMARY KEY (device_id, socket_id)
);
