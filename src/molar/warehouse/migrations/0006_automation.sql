-- Automation and delivery: consent, rule state, journeys, timers, decisions, the outbox,
-- staff tasks, coupons. Everything the rule engine decides is written here, in the caller's
-- transaction, so a crash never leaves half a decision. See docs/automation.md.
-- Times are naive clinic-local timestamps (Asia/Shanghai), like the rest of the warehouse.

-- Current consent per patient, channel and purpose (consent.changed events).
-- No row: the policy default applies (automation/policy.yaml).
CREATE TABLE IF NOT EXISTS ops.consent (
    golden_id  VARCHAR NOT NULL,
    channel    VARCHAR NOT NULL,   -- sms | wechat | app
    purpose    VARCHAR NOT NULL,   -- care | marketing
    granted    BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL, -- when the patient changed it (event time)
    source     VARCHAR,
    event_id   VARCHAR,
    PRIMARY KEY (golden_id, channel, purpose)
);

-- Every consent change ever received (the audit trail behind ops.consent).
CREATE TABLE IF NOT EXISTS ops.consent_history (
    event_id    VARCHAR NOT NULL,
    golden_id   VARCHAR NOT NULL,
    channel     VARCHAR NOT NULL,
    purpose     VARCHAR NOT NULL,
    granted     BOOLEAN NOT NULL,
    changed_at  TIMESTAMP NOT NULL,
    source      VARCHAR,
    applied     BOOLEAN NOT NULL   -- false when an newer change was already recorded
);

-- Enable/disable overrides of the YAML catalogue (molar rules enable|disable, API).
CREATE TABLE IF NOT EXISTS ops.rule_state (
    rule_key   VARCHAR PRIMARY KEY,
    enabled    BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    updated_by VARCHAR
);

-- One journey per rule x patient x occurrence (the occurrence names what triggered it:
-- an event ID, a streak start day, a schedule day). The primary key makes a trigger
-- processed twice start one journey.
CREATE TABLE IF NOT EXISTS ops.journey (
    rule_key         VARCHAR NOT NULL,
    golden_id        VARCHAR NOT NULL,
    occurrence       VARCHAR NOT NULL,
    rule_version     VARCHAR NOT NULL,
    status           VARCHAR NOT NULL,  -- running | waiting | completed | held_out | condition_false | stopped
    step             VARCHAR,           -- path of the current step ("2", "3.then.0")
    trigger_type     VARCHAR NOT NULL,  -- event type, or schedule
    trigger_event_id VARCHAR,
    trigger_at       TIMESTAMP NOT NULL,
    anchor_at        TIMESTAMP NOT NULL, -- waits count from here
    wait_started_at  TIMESTAMP,          -- replies after this count for the next branch
    context          VARCHAR NOT NULL,   -- JSON: trigger event data, coupon issued …
    started_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    PRIMARY KEY (rule_key, golden_id, occurrence)
);

-- Every decision of the engine: triggered, condition false, held out, waiting, queued,
-- deferred, suppressed, sent, failed, task created … with the reason in plain words.
-- seq orders decisions taken at the same clock time.
CREATE SEQUENCE IF NOT EXISTS ops.rule_decision_seq;
CREATE TABLE IF NOT EXISTS ops.rule_decision (
    seq          BIGINT NOT NULL DEFAULT nextval('ops.rule_decision_seq'),
    decision_id  VARCHAR NOT NULL,
    decided_at   TIMESTAMP NOT NULL,
    rule_key     VARCHAR NOT NULL,
    rule_version VARCHAR,
    golden_id    VARCHAR NOT NULL,
    occurrence   VARCHAR,
    step         VARCHAR,
    action       VARCHAR NOT NULL,   -- trigger | wait | send | task | set_tag | coupon | branch | end
    outcome      VARCHAR NOT NULL,
    reason_code  VARCHAR,
    reason_en    VARCHAR,
    reason_zh    VARCHAR,
    detail       VARCHAR,            -- JSON: the numbers behind the reason
    message_id   VARCHAR,
    task_id      VARCHAR,
    event_id     VARCHAR
);

-- Durable waits. A pending timer due before now is fired by the next tick, also after
-- a restart; firing marks it (state pending -> fired/woken) in the same transaction that
-- continues the journey, so a timer continues its journey exactly once.
CREATE TABLE IF NOT EXISTS ops.timer (
    timer_id   VARCHAR PRIMARY KEY,
    rule_key   VARCHAR NOT NULL,
    golden_id  VARCHAR NOT NULL,
    occurrence VARCHAR NOT NULL,
    step       VARCHAR NOT NULL,     -- path of the wait step
    due_at     TIMESTAMP NOT NULL,
    wake_on    VARCHAR,              -- followup.reply: a reply ends the wait early
    state      VARCHAR NOT NULL,     -- pending | fired | woken | cancelled
    created_at TIMESTAMP NOT NULL,
    fired_at   TIMESTAMP
);

-- Messages to send. idempotency_key = rule|patient|occurrence|step; the gateway gets it
-- in the Idempotency-Key header. The address is resolved at send time, never stored.
CREATE TABLE IF NOT EXISTS ops.outbox (
    message_id      VARCHAR PRIMARY KEY,
    idempotency_key VARCHAR NOT NULL UNIQUE,
    rule_key        VARCHAR,
    golden_id       VARCHAR NOT NULL,  -- recipient
    occurrence      VARCHAR,
    step            VARCHAR,
    channel         VARCHAR NOT NULL,  -- sms | wechat | app
    purpose         VARCHAR NOT NULL,  -- care | marketing
    template        VARCHAR,
    language        VARCHAR,
    rendered_text   VARCHAR,
    payload         VARCHAR,           -- JSON
    status          VARCHAR NOT NULL,  -- queued | sending | sent | failed | suppressed
    attempts        INTEGER NOT NULL,
    next_attempt_at TIMESTAMP,
    last_error      VARCHAR,
    reason_code     VARCHAR,           -- why suppressed / deferred
    created_at      TIMESTAMP NOT NULL,
    sent_at         TIMESTAMP,
    updated_at      TIMESTAMP NOT NULL
);

-- Staff tasks (nurse follow-up, VIP advisor, service recovery …).
CREATE TABLE IF NOT EXISTS ops.task (
    task_id     VARCHAR PRIMARY KEY,
    kind        VARCHAR NOT NULL,
    golden_id   VARCHAR NOT NULL,
    rule_key    VARCHAR,
    occurrence  VARCHAR,
    step        VARCHAR,
    role        VARCHAR,
    title_zh    VARCHAR,
    title_en    VARCHAR,
    due_at      TIMESTAMP NOT NULL,
    status      VARCHAR NOT NULL,   -- open | done
    created_at  TIMESTAMP NOT NULL,
    resolved_at TIMESTAMP,
    resolved_by VARCHAR,
    note        VARCHAR
);

-- Messages "delivered" by the local sink (demo, simulate, no gateway configured).
CREATE TABLE IF NOT EXISTS ops.delivered_local (
    idempotency_key VARCHAR PRIMARY KEY,
    message_id      VARCHAR NOT NULL,
    channel         VARCHAR NOT NULL,
    body            VARCHAR NOT NULL,  -- the JSON a webhook gateway would have received
    delivered_at    TIMESTAMP NOT NULL
);

-- Threshold triggers: the current run of consecutive days over the threshold.
CREATE TABLE IF NOT EXISTS ops.threshold_streak (
    rule_key     VARCHAR NOT NULL,
    golden_id    VARCHAR NOT NULL,
    streak_start DATE,
    last_day     DATE NOT NULL,
    streak       INTEGER NOT NULL,
    last_value   DOUBLE,
    updated_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (rule_key, golden_id)
);

-- Coupons issued by journeys.
CREATE TABLE IF NOT EXISTS ops.coupon (
    coupon_id  VARCHAR PRIMARY KEY,
    golden_id  VARCHAR NOT NULL,
    rule_key   VARCHAR,
    occurrence VARCHAR,
    kind       VARCHAR,
    value_yuan DOUBLE NOT NULL,
    issued_at  TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    status     VARCHAR NOT NULL    -- issued | used | expired
);

-- Tags set by journeys (set_tag); patient facts read them over profile.tag_value.
CREATE TABLE IF NOT EXISTS ops.automation_tag (
    golden_id VARCHAR NOT NULL,
    tag_key   VARCHAR NOT NULL,
    value     VARCHAR,
    value_num DOUBLE,
    set_at    TIMESTAMP NOT NULL,
    rule_key  VARCHAR,
    PRIMARY KEY (golden_id, tag_key)
);

-- Follow-up replies (followup.reply), read by journey branches.
CREATE TABLE IF NOT EXISTS ops.followup_reply (
    event_id    VARCHAR PRIMARY KEY,
    golden_id   VARCHAR NOT NULL,
    status      VARCHAR NOT NULL,   -- good | concern
    rule_key    VARCHAR,
    occurrence  VARCHAR,
    received_at TIMESTAMP NOT NULL,
    data        VARCHAR
);

-- Complaints seen live (consult.message with sentiment complaint); with the resolved
-- service-recovery tasks they decide whether a patient has an open complaint.
CREATE TABLE IF NOT EXISTS ops.complaint (
    event_id    VARCHAR PRIMARY KEY,
    golden_id   VARCHAR NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    source      VARCHAR
);

-- The latest event of each type per patient that some rule listens to (for `why`).
CREATE TABLE IF NOT EXISTS ops.last_event (
    golden_id   VARCHAR NOT NULL,
    event_type  VARCHAR NOT NULL,
    event_id    VARCHAR NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    data        VARCHAR,
    PRIMARY KEY (golden_id, event_type)
);

-- Daily schedule triggers: progress through the audience (resumable cursor).
CREATE TABLE IF NOT EXISTS ops.schedule_run (
    rule_key    VARCHAR NOT NULL,
    run_date    DATE NOT NULL,
    cursor      VARCHAR NOT NULL,
    status      VARCHAR NOT NULL,   -- running | done
    started_at  TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    PRIMARY KEY (rule_key, run_date)
);
