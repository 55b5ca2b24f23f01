-- Predictive scores keyed by golden ID (src/molar/predict). Each table holds the latest
-- scoring run; the model that produced it is named by model_id.
CREATE TABLE IF NOT EXISTS profile.clv (
    golden_id           VARCHAR PRIMARY KEY,
    visits_12m          DOUBLE NOT NULL,
    visits_24m          DOUBLE NOT NULL,
    value_12m_yuan      DOUBLE NOT NULL,
    value_24m_yuan      DOUBLE NOT NULL,
    p_alive             DOUBLE NOT NULL,
    spend_per_visit     DOUBLE NOT NULL,
    as_of               DATE NOT NULL,
    model_id            VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS profile.churn_risk (
    golden_id           VARCHAR PRIMARY KEY,
    risk                DOUBLE NOT NULL,
    band                VARCHAR NOT NULL,
    horizon_days        INTEGER NOT NULL,
    reasons             VARCHAR NOT NULL,   -- JSON: top contributions with words in zh and en
    as_of               DATE NOT NULL,
    model_id            VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS profile.predict_model (
    model_id            VARCHAR PRIMARY KEY,
    kind                VARCHAR NOT NULL,   -- clv | churn
    as_of               DATE NOT NULL,
    created_at          TIMESTAMP NOT NULL,
    summary             VARCHAR NOT NULL    -- JSON: parameters, metrics, data hash, versions
)
