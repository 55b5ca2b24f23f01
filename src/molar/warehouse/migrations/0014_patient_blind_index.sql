-- Blind indexes of std.patient's personal identifiers (keyed HMAC, molar.privacy.fields):
-- lookups and exact matching by mobile, ID number and unionid without decrypting.
ALTER TABLE std.patient ADD COLUMN IF NOT EXISTS mobile_bi VARCHAR;
ALTER TABLE std.patient ADD COLUMN IF NOT EXISTS id_number_bi VARCHAR;
ALTER TABLE std.patient ADD COLUMN IF NOT EXISTS unionid_bi VARCHAR;
