-- Identity resolution: link input, scored pairs, clusters, stable golden IDs, overrides,
-- events and the golden record (one row per person). See docs/identity.md.

-- Pinyin keys per distinct name (cache; only new names are computed on a rerun).
CREATE TABLE IF NOT EXISTS identity.name_key (
    name       VARCHAR NOT NULL,
    name_py    VARCHAR,
    surname_py VARCHAR,
    given_py   VARCHAR
);

-- WeChat nicknames looked at; name is set when the nickname reads as a real name.
CREATE TABLE IF NOT EXISTS identity.nickname_name (
    nickname VARCHAR NOT NULL,
    name     VARCHAR
);

-- One row per source person record, with the features the linker compares.
-- (Large tables carry no PRIMARY KEY: they are rewritten whole on every run and an
-- index would cost more than it saves; uniqueness holds by construction.)
CREATE TABLE IF NOT EXISTS identity.link_input (
    idx                BIGINT NOT NULL,    -- 0..n-1 in unique_id order, this run only
    unique_id          VARCHAR NOT NULL,
    source             VARCHAR NOT NULL,
    source_patient_key VARCHAR NOT NULL,
    name               VARCHAR,
    name_py            VARCHAR,
    surname_py         VARCHAR,
    given_py           VARCHAR,
    sex                VARCHAR,
    birth_date         DATE,
    birth_y            INTEGER,
    birth_m            INTEGER,
    birth_d            INTEGER,
    mobile             VARCHAR,
    mobile_key         VARCHAR,
    mobile_names       INTEGER,
    id_number          VARCHAR,
    district           VARCHAR,
    wechat_unionid     VARCHAR,
    registered_on      DATE,
    -- carried for the golden record (not compared)
    address            VARCHAR,
    wechat_openid      VARCHAR,
    clinic_id          VARCHAR
);

-- Scored record pairs of the latest run (links and the review band below the threshold).
-- rule: 'id_number' / 'wechat_unionid' for deterministic links, 'model' otherwise.
CREATE TABLE IF NOT EXISTS identity.pair (
    unique_id_l       VARCHAR NOT NULL,
    unique_id_r       VARCHAR NOT NULL,
    idx_l             BIGINT NOT NULL,    -- identity.link_input.idx of the same run
    idx_r             BIGINT NOT NULL,
    match_weight      DOUBLE,
    match_probability DOUBLE,
    rule              VARCHAR NOT NULL,
    veto              BOOLEAN NOT NULL,   -- names rule the pair out (LinkModel.veto_sql)
    linked            BOOLEAN NOT NULL,
    run_id            VARCHAR NOT NULL
);

-- Which golden ID each source record belongs to (latest run).
CREATE TABLE IF NOT EXISTS identity.cluster (
    unique_id          VARCHAR NOT NULL,
    source             VARCHAR NOT NULL,
    source_patient_key VARCHAR NOT NULL,
    golden_id          VARCHAR NOT NULL,
    run_id             VARCHAR NOT NULL
);

-- Every golden ID ever issued. Retired IDs stay, with the ID they were merged into.
CREATE TABLE IF NOT EXISTS identity.golden (
    golden_id   VARCHAR NOT NULL,
    status      VARCHAR NOT NULL,   -- active | retired
    created_at  TIMESTAMP NOT NULL,
    created_run VARCHAR NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    retired_at  TIMESTAMP,
    merged_into VARCHAR,
    members     INTEGER NOT NULL
);

-- identity.merged: golden_ids[1] survives, the others were merged into it.
-- identity.split: golden_ids[1] kept part of its records, the others took the rest.
CREATE TABLE IF NOT EXISTS identity.event (
    event_id   VARCHAR PRIMARY KEY,
    event_type VARCHAR NOT NULL,
    golden_ids VARCHAR[] NOT NULL,
    detail     VARCHAR,
    run_id     VARCHAR,
    occurred_at TIMESTAMP NOT NULL
);

-- Manual corrections, re-applied after clustering on every run.
-- merge: all unique_ids are one person. split: unique_ids are a person apart from the
-- other records of their cluster.
CREATE TABLE IF NOT EXISTS identity.override (
    override_id VARCHAR PRIMARY KEY,
    kind        VARCHAR NOT NULL,
    unique_ids  VARCHAR[] NOT NULL,
    reason      VARCHAR,
    created_by  VARCHAR,
    created_at  TIMESTAMP NOT NULL
);

-- One row per resolve run: sizes, threshold and the trained model (Splink JSON).
CREATE TABLE IF NOT EXISTS identity.run (
    run_id       VARCHAR PRIMARY KEY,
    started_at   TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP,
    records      BIGINT,
    pairs        BIGINT,
    links        BIGINT,
    clusters     BIGINT,
    threshold_weight DOUBLE,
    model_json   VARCHAR,
    summary_json VARCHAR
);

-- The golden record: one row per active golden ID, best attributes by survivorship rules.
CREATE TABLE IF NOT EXISTS identity.patient (
    golden_id          VARCHAR NOT NULL,
    name               VARCHAR,
    name_pinyin        VARCHAR,
    sex                VARCHAR,
    birth_date         DATE,
    mobile             VARCHAR,
    id_number          VARCHAR,
    district           VARCHAR,
    address            VARCHAR,
    wechat_unionid     VARCHAR,
    wechat_openid      VARCHAR,
    home_clinic_id     VARCHAR,
    first_registered_on DATE,
    last_registered_on DATE,
    member_count       INTEGER NOT NULL,
    sources            VARCHAR[] NOT NULL,
    updated_at         TIMESTAMP NOT NULL
);
