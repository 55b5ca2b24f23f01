-- Access: staff accounts, API tokens and sessions, the audit log. See docs/privacy.md.

-- People who sign in (POST /v1/sessions). password_hash is argon2id.
CREATE TABLE IF NOT EXISTS ops.staff_user (
    username       VARCHAR PRIMARY KEY,
    password_hash  VARCHAR NOT NULL,
    role           VARCHAR NOT NULL,
    clinics        VARCHAR[],            -- NULL: every clinic
    disabled       BOOLEAN NOT NULL DEFAULT false,
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);

-- Bearer tokens: API tokens for systems (kind = 'api') and sign-in sessions of users
-- (kind = 'session', username set, expires_at set). Only the SHA-256 of a token is kept.
CREATE TABLE IF NOT EXISTS ops.access_token (
    token_sha256  VARCHAR PRIMARY KEY,
    kind          VARCHAR NOT NULL,
    name          VARCHAR NOT NULL,
    role          VARCHAR NOT NULL,
    source        VARCHAR,               -- source systems: stamped on the events they send
    clinics       VARCHAR[],
    username      VARCHAR,
    created_at    TIMESTAMP NOT NULL,
    expires_at    TIMESTAMP,
    revoked_at    TIMESTAMP
);

-- Append-only, hash-chained: hash = sha256(prev_hash || canonical JSON of the row).
-- Every read of personal data and every change of consent, role, rule or override.
CREATE TABLE IF NOT EXISTS ops.audit_log (
    seq        BIGINT PRIMARY KEY,
    recorded_at TIMESTAMP NOT NULL,
    actor      VARCHAR NOT NULL,
    role       VARCHAR NOT NULL,
    action     VARCHAR NOT NULL,          -- e.g. patient.read, rule.change, role.change
    resource   VARCHAR NOT NULL,
    patient    VARCHAR,                   -- golden or provisional ID
    fields     VARCHAR[] NOT NULL,        -- the personal fields shown unmasked or changed
    purpose    VARCHAR NOT NULL,          -- the route or command
    detail     JSON,
    prev_hash  VARCHAR NOT NULL,
    hash       VARCHAR NOT NULL
);
