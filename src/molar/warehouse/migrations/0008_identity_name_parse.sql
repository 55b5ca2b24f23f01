-- What each distinct name or nickname holds (molar.ingest.standardise.names.parse_name:
-- real name, surname with a form of address, nickname, empty) with the pinyin of the real
-- name or of the addressed surname. Replaces the pinyin and nickname caches of 0003.
CREATE TABLE IF NOT EXISTS identity.name_parse (
    text           VARCHAR NOT NULL,
    nickname_field BOOLEAN NOT NULL,   -- parsed as a WeChat/app nickname (stricter)
    kind           VARCHAR NOT NULL,   -- real | honorific | nickname | empty
    name           VARCHAR,            -- the real name (kind real)
    name_py        VARCHAR,
    surname_py     VARCHAR,            -- also for kind honorific (李女士 → li)
    given_py       VARCHAR,
    implied_sex    VARCHAR             -- F/M implied by the form of address (女士, 先生 …)
);
DROP TABLE IF EXISTS identity.name_key;
DROP TABLE IF EXISTS identity.nickname_name;
-- name_kind: what the record's name field held; own_phone: the mobile when it is one
-- person's own phone and the record's name fits that person (a deterministic link key).
ALTER TABLE identity.link_input ADD COLUMN IF NOT EXISTS name_kind VARCHAR;
ALTER TABLE identity.link_input ADD COLUMN IF NOT EXISTS own_phone VARCHAR;
