-- Incremental identity runs find the existing records a new one meets in a blocking rule
-- by blind indexes (molar.identity.incremental). Every blocking key has one except the
-- mobile's digits sorted (transposed digits), which gets its own here; resolve fills it.
ALTER TABLE identity.link_input ADD COLUMN IF NOT EXISTS mobile_key_bi VARCHAR;
