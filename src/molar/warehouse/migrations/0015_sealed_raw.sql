-- The raw and quarantine layers hold personal values as field tokens (molar.privacy.sealed):
-- which raw columns are sealed, and whether a quarantined value is.
CREATE TABLE IF NOT EXISTS privacy.sealed_column (
    table_name  VARCHAR NOT NULL,
    column_name VARCHAR NOT NULL,
    PRIMARY KEY (table_name, column_name)
);
ALTER TABLE quarantine.issue ADD COLUMN IF NOT EXISTS value_sealed BOOLEAN DEFAULT false;
