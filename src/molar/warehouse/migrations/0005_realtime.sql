-- Real-time events (molar serve): every applied event, the worker's checkpoint in the
-- event log, provisional identities for people not yet known, stage failures and the
-- interval jobs' bookkeeping. See docs/realtime.md.

-- Every event the worker applied: inbound events (seq = their position in the event log)
-- and events derived by the stages (derived = true, seq = the log position that led to
-- them). event_id is the idempotency key: an ID already here is never applied again.
CREATE TABLE IF NOT EXISTS ops.rt_event (
    seq          BIGINT NOT NULL,
    event_id     VARCHAR PRIMARY KEY,
    type         VARCHAR NOT NULL,
    golden_id    VARCHAR NOT NULL,     -- golden ID, or provisional ID (PV...) until reconciled
    provisional  BOOLEAN NOT NULL,
    source       VARCHAR NOT NULL,     -- the API key's source system, internal for derived
    occurred_at  TIMESTAMP NOT NULL,   -- clinic local time
    received_at  TIMESTAMP,
    applied_at   TIMESTAMP NOT NULL,
    derived      BOOLEAN NOT NULL,
    data         JSON
);
CREATE INDEX IF NOT EXISTS rt_event_golden_id ON ops.rt_event (golden_id);

-- Last event log seq whose batch committed (name = 'pipeline').
CREATE TABLE IF NOT EXISTS ops.rt_checkpoint (
    name        VARCHAR PRIMARY KEY,
    seq         BIGINT NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

-- People who sent events before identity resolution knew them. The same keys get the same
-- provisional ID. reconcile_provisional() fills resolved_* after an identity run and
-- rewrites their events in ops.rt_event to the golden ID.
CREATE TABLE IF NOT EXISTS ops.provisional_identity (
    provisional_id      VARCHAR PRIMARY KEY,
    unionid             VARCHAR,
    mobile              VARCHAR,
    source              VARCHAR,
    source_patient_key  VARCHAR,
    created_at          TIMESTAMP NOT NULL,
    resolved_golden_id  VARCHAR,
    resolved_at         TIMESTAMP,
    resolved_by         VARCHAR       -- unionid | source_patient_key | mobile
);

-- Events whose stages failed even when applied alone. The event itself is in ops.rt_event
-- (stored without its stages' effects), the error and the record are kept here.
CREATE TABLE IF NOT EXISTS ops.rt_failure (
    seq        BIGINT NOT NULL,
    event_id   VARCHAR,
    type       VARCHAR,
    stage      VARCHAR,
    error      VARCHAR NOT NULL,
    record     VARCHAR,
    failed_at  TIMESTAMP NOT NULL
);

-- Interval jobs run by the worker (batch recomputes): when each last ran and how.
CREATE TABLE IF NOT EXISTS ops.rt_job (
    name              VARCHAR PRIMARY KEY,
    last_started_at   TIMESTAMP,
    last_finished_at  TIMESTAMP,
    last_status       VARCHAR,          -- ok | failed
    last_error        VARCHAR,
    runs              BIGINT NOT NULL DEFAULT 0
);
