-- The living profile: tag values with history, text sentiment, RFM-Health scores,
-- value tiers and lifecycle stages. Keyed by golden ID only (no PII). See docs/profile.md.

-- Sentiment of every consult message and review text (one row per text).
CREATE TABLE IF NOT EXISTS profile.text_sentiment (
    text_id            VARCHAR NOT NULL,   -- consult_id or review_id
    kind               VARCHAR NOT NULL,   -- consult | review
    source             VARCHAR NOT NULL,
    source_patient_key VARCHAR NOT NULL,
    occurred_at        TIMESTAMP NOT NULL,
    label              VARCHAR NOT NULL,   -- satisfied | doubt | complaint | neutral
    confidence         DOUBLE,
    model_version      VARCHAR NOT NULL
);

-- Current value of every tag for every patient (rewritten by each profile run).
CREATE TABLE IF NOT EXISTS profile.tag_value (
    golden_id  VARCHAR NOT NULL,
    tag_key    VARCHAR NOT NULL,
    value      VARCHAR,            -- text form (codes, bands, numbers as text)
    value_num  DOUBLE,             -- numeric form when the tag is numeric or boolean
    evidence   VARCHAR,            -- JSON: the inputs that produced the value
    valid_from TIMESTAMP NOT NULL,
    run_id     VARCHAR NOT NULL
);

-- Every value a tag has had: a row is closed (valid_to set) when the value changes.
CREATE TABLE IF NOT EXISTS profile.tag_history (
    golden_id  VARCHAR NOT NULL,
    tag_key    VARCHAR NOT NULL,
    value      VARCHAR,
    value_num  DOUBLE,
    valid_from TIMESTAMP NOT NULL,
    valid_to   TIMESTAMP,
    run_id     VARCHAR NOT NULL
);

-- RFM-Health value score per patient with every component kept for explanation.
CREATE TABLE IF NOT EXISTS profile.value_score (
    golden_id        VARCHAR NOT NULL,
    recency_days     INTEGER,
    frequency        DOUBLE,      -- visits per year over the scoring window
    monetary_yuan    DOUBLE,      -- spend over the scoring window
    health_risk      DOUBLE,      -- 0 (low) .. 1 (high)
    recall_adherence DOUBLE,      -- 0 (overdue, stretching) .. 1 (on time)
    r_score          DOUBLE,      -- 0..1, percentile against the chain
    f_score          DOUBLE,
    m_score          DOUBLE,
    h_score          DOUBLE,
    value_score      DOUBLE,      -- weighted 0..100
    run_id           VARCHAR NOT NULL
);

-- Value tier per patient, with the cluster it came from.
CREATE TABLE IF NOT EXISTS profile.tier (
    golden_id VARCHAR NOT NULL,
    tier      VARCHAR NOT NULL,   -- strategic | growth | maintain | potential
    cluster   INTEGER NOT NULL,
    distance  DOUBLE,             -- to the cluster centroid (standardised space)
    run_id    VARCHAR NOT NULL
);

-- Tier model of each run: centroids and their tier names, plus the plain-words rules.
CREATE TABLE IF NOT EXISTS profile.tier_model (
    run_id       VARCHAR NOT NULL,
    method       VARCHAR NOT NULL,   -- kmeans | hierarchical
    features     VARCHAR NOT NULL,   -- JSON list
    scaler_json  VARCHAR NOT NULL,   -- means and scales
    centroids    VARCHAR NOT NULL,   -- JSON {tier: [..]} in standardised space
    rules_json   VARCHAR,            -- decision tree rules per tier
    tree_accuracy DOUBLE,
    created_at   TIMESTAMP NOT NULL
);

-- Lifecycle stage per patient and since when.
CREATE TABLE IF NOT EXISTS profile.lifecycle (
    golden_id        VARCHAR NOT NULL,
    stage            VARCHAR NOT NULL,   -- acquisition | growth | mature | decline | churn
    since            DATE NOT NULL,
    expected_interval_days DOUBLE,
    days_since_last  INTEGER,
    overdue_ratio    DOUBLE,
    spend_trend      DOUBLE,
    reason           VARCHAR,
    run_id           VARCHAR NOT NULL
);

-- Stage transitions (lifecycle.changed), read by the automation engine.
CREATE TABLE IF NOT EXISTS profile.lifecycle_event (
    event_id    VARCHAR NOT NULL,
    golden_id   VARCHAR NOT NULL,
    from_stage  VARCHAR,
    to_stage    VARCHAR NOT NULL,
    occurred_on DATE NOT NULL,
    reason      VARCHAR,
    run_id      VARCHAR NOT NULL
);

-- One row per profile run.
CREATE TABLE IF NOT EXISTS profile.run (
    run_id      VARCHAR PRIMARY KEY,
    as_of       DATE NOT NULL,
    started_at  TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    patients    BIGINT,
    summary_json VARCHAR
);
