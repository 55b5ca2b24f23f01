-- Identity keeps no plaintext personal values in the file (docs/privacy.md).
-- The link input keeps only non-identifying features and blind indexes (keyed HMAC,
-- molar.privacy.blind_index); its personal values live in a TEMP table during a run and
-- are read back from the sealed std.patient when needed (molar.identity.features).
-- Both tables are rebuilt by every `molar identity resolve`.
DROP TABLE IF EXISTS identity.link_input;
CREATE TABLE identity.link_input (
    idx                BIGINT NOT NULL,    -- 0..n-1 in unique_id order, this run only
    unique_id          VARCHAR NOT NULL,
    source             VARCHAR NOT NULL,
    source_patient_key VARCHAR NOT NULL,
    name_kind          VARCHAR,            -- real | honorific | nickname | empty
    surname_py         VARCHAR,
    sex                VARCHAR,
    birth_date         DATE,
    birth_y            INTEGER,
    birth_m            INTEGER,
    birth_d            INTEGER,
    mobile_names       INTEGER,
    district           VARCHAR,
    registered_on      DATE,
    clinic_id          VARCHAR,
    name_bi            VARCHAR,            -- blind indexes of the compared values
    name_py_bi         VARCHAR,
    given_py_bi        VARCHAR,
    mobile_bi          VARCHAR,
    id_number_bi       VARCHAR,            -- only a verified ID number (as the linker saw it)
    unionid_bi         VARCHAR,
    own_phone_bi       VARCHAR             -- mobile_bi when the phone is this person's own
);
-- The name-parse cache is keyed by a blind index of the text; the parts that are a
-- name (real name, its pinyin) are one AES-GCM token bound to that index.
DROP TABLE IF EXISTS identity.name_parse;
CREATE TABLE identity.name_parse (
    text_bi        VARCHAR NOT NULL,
    nickname_field BOOLEAN NOT NULL,   -- parsed as a WeChat/app nickname (stricter)
    kind           VARCHAR NOT NULL,   -- real | honorific | nickname | empty
    implied_sex    VARCHAR,            -- F/M implied by the form of address (女士, 先生 …)
    parts          VARCHAR             -- token of JSON [name, name_py, surname_py, given_py]
);
-- The golden record's personal columns become tokens (record key golden_id) with blind
-- indexes for lookups; plaintext rows written before this are dropped (resolve rebuilds them).
ALTER TABLE identity.patient ADD COLUMN IF NOT EXISTS mobile_bi VARCHAR;
ALTER TABLE identity.patient ADD COLUMN IF NOT EXISTS id_number_bi VARCHAR;
ALTER TABLE identity.patient ADD COLUMN IF NOT EXISTS unionid_bi VARCHAR;
DELETE FROM identity.patient;
