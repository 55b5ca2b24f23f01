-- Privacy, data half: wrapped data keys, the consent registry, erasures and the
-- suppression list that keeps erased people out after a re-ingest. See docs/privacy.md.
CREATE SCHEMA IF NOT EXISTS privacy;

-- Data keys wrapped (AES-GCM) by the master key, which never enters the warehouse.
CREATE TABLE IF NOT EXISTS privacy.data_key (
    key_id     VARCHAR PRIMARY KEY,
    kind       VARCHAR NOT NULL,    -- data | blind_index
    wrapped    BLOB NOT NULL,       -- nonce || AES-GCM(master, key), bound to key_id and kind
    master_id  VARCHAR NOT NULL,    -- fingerprint of the master key that wrapped it
    created_at TIMESTAMP NOT NULL,
    retired_at TIMESTAMP            -- no new data under it, still opens old data
);

-- Consent registry: every change ever received, append-only. The current answer is the
-- newest by event time (occurred_at), never by arrival (privacy.consent_current).
-- subject: a golden ID, a source record (`his:P001`) or a provisional ID (PV…).
-- purpose: care | marketing | research | partner_sharing | sensitive_data | all (erasure)
-- channel: sms | wechat | app | phone | email | any (every channel)
CREATE TABLE IF NOT EXISTS privacy.consent_event (
    event_id    VARCHAR PRIMARY KEY,
    subject     VARCHAR NOT NULL,
    purpose     VARCHAR NOT NULL,
    channel     VARCHAR NOT NULL,
    granted     BOOLEAN NOT NULL,
    occurred_at TIMESTAMP NOT NULL,  -- when the patient said it (clinic local time)
    recorded_at TIMESTAMP NOT NULL,  -- when Molar learnt it
    source      VARCHAR,             -- system or person that recorded it
    evidence    VARCHAR              -- encrypted token (form number, message text …)
);
CREATE INDEX IF NOT EXISTS consent_event_subject ON privacy.consent_event (subject);

-- Newest statement per subject, purpose and channel (a refusal wins a tie).
CREATE OR REPLACE VIEW privacy.consent_current AS
SELECT * EXCLUDE (r) FROM (
    SELECT *, row_number() OVER (PARTITION BY subject, purpose, channel
                                 ORDER BY occurred_at DESC, granted ASC, event_id DESC) AS r
    FROM privacy.consent_event)
WHERE r = 1;

-- Consent changes received before the registry existed.
INSERT INTO privacy.consent_event
SELECT h.event_id, h.golden_id, h.purpose, h.channel, h.granted, h.changed_at, h.changed_at, h.source, NULL
FROM ops.consent_history h
QUALIFY row_number() OVER (PARTITION BY h.event_id ORDER BY h.changed_at) = 1
ON CONFLICT DO NOTHING;

-- One row per erasure: the fact that it happened, nothing about the person.
CREATE TABLE IF NOT EXISTS privacy.erasure (
    erasure_id      VARCHAR PRIMARY KEY,
    golden_id       VARCHAR NOT NULL,   -- pseudonymous, marked erased in identity.golden
    erased_at       TIMESTAMP NOT NULL,
    requested_by    VARCHAR,
    keep_aggregates BOOLEAN NOT NULL,
    rows_removed    VARCHAR NOT NULL    -- JSON {table: rows}
);

-- Blind indexes of erased people's identifiers: rows matching any of them are removed
-- from raw and std after every load and before identity resolution.
CREATE TABLE IF NOT EXISTS privacy.suppression (
    kind        VARCHAR NOT NULL,   -- source_key | id_number | unionid | mobile_name
    blind_index VARCHAR NOT NULL,
    erasure_id  VARCHAR NOT NULL,
    PRIMARY KEY (kind, blind_index)
);

-- Loads already checked against the suppression list since the last erasure (an erasure
-- empties it), so that each check reads only new rows.
CREATE TABLE IF NOT EXISTS privacy.suppression_checked (
    load_id    VARCHAR PRIMARY KEY,
    checked_at TIMESTAMP NOT NULL
);
