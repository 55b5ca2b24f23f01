-- Changes of a patient's stored churn risk: every change of band at a nightly rescoring, and
-- every rescoring caused by a live event (cause_event_id). A change into the high band from a
-- lower one is the `churn_risk.high` event the automation engine reacts to.
CREATE TABLE IF NOT EXISTS profile.churn_risk_change (
    change_id           VARCHAR PRIMARY KEY,
    golden_id           VARCHAR NOT NULL,
    from_band           VARCHAR,            -- NULL: the patient's first score
    to_band             VARCHAR NOT NULL,
    from_risk           DOUBLE,
    to_risk             DOUBLE NOT NULL,
    changed_at          TIMESTAMP NOT NULL,
    model_id            VARCHAR NOT NULL,
    cause_event_id      VARCHAR             -- the live event that caused a rescoring, if any
)
