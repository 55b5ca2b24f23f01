-- The warehouse layers, one schema each, and the bookkeeping every load writes.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS quarantine;
CREATE SCHEMA IF NOT EXISTS std;
CREATE SCHEMA IF NOT EXISTS identity;
CREATE SCHEMA IF NOT EXISTS profile;
CREATE SCHEMA IF NOT EXISTS ops;

-- One row per file an ingest run was asked to load (also files rejected whole).
CREATE TABLE IF NOT EXISTS ops.load (
    load_id        VARCHAR PRIMARY KEY,
    source         VARCHAR,
    entry          VARCHAR,
    file_path      VARCHAR NOT NULL,
    file_sha256    VARCHAR,
    file_bytes     BIGINT,
    encoding       VARCHAR,
    status         VARCHAR NOT NULL,   -- complete | rejected | skipped
    rows_read      BIGINT,
    rows_loaded    BIGINT,
    rows_quarantined BIGINT,
    rows_warned    BIGINT,
    message_en     VARCHAR,
    message_zh     VARCHAR,
    started_at     TIMESTAMP,
    finished_at    TIMESTAMP
);

-- Row accounting of one file for one canonical table it feeds:
-- rows_read = rows_loaded + rows_quarantined, checked before the load commits.
CREATE TABLE IF NOT EXISTS ops.load_target (
    load_id          VARCHAR NOT NULL,
    target_table     VARCHAR NOT NULL,
    rows_read        BIGINT NOT NULL,
    rows_loaded      BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL,
    rows_warned      BIGINT NOT NULL,
    rows_inserted    BIGINT NOT NULL,
    rows_replaced    BIGINT NOT NULL,
    PRIMARY KEY (load_id, target_table)
);

-- Every problem found in an input row. Severity 'error' keeps the row out of std
-- (it is quarantined); 'warning' loads the row and records the doubt.
CREATE TABLE IF NOT EXISTS quarantine.issue (
    load_id      VARCHAR NOT NULL,
    source       VARCHAR,
    entry        VARCHAR,
    target_table VARCHAR,
    file_path    VARCHAR,
    row_number   BIGINT,
    field        VARCHAR,
    value        VARCHAR,
    code         VARCHAR NOT NULL,
    severity     VARCHAR NOT NULL,
    reason_en    VARCHAR,
    reason_zh    VARCHAR
);
