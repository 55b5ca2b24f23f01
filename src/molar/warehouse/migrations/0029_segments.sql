-- Segments (molar.segments): versions saved from the console's builder, each segment's
-- current members, every entry and exit (the segment.entered / segment.exited events the
-- automation engine reacts to) and the size at each refresh.
CREATE TABLE IF NOT EXISTS ops.segment_version (
    segment_key     VARCHAR NOT NULL,
    version         INTEGER NOT NULL,
    definition      VARCHAR NOT NULL,   -- JSON: name, description, condition (as in a segment file)
    saved_by        VARCHAR NOT NULL,
    saved_at        TIMESTAMP NOT NULL,
    PRIMARY KEY (segment_key, version)
);
CREATE TABLE IF NOT EXISTS profile.segment_member (
    segment_key     VARCHAR NOT NULL,
    golden_id       VARCHAR NOT NULL,
    since           TIMESTAMP NOT NULL, -- the refresh that found the patient in it
    PRIMARY KEY (segment_key, golden_id)
);
CREATE TABLE IF NOT EXISTS profile.segment_change (
    change_id       VARCHAR PRIMARY KEY, -- the event ID is 'seg-' || change_id
    segment_key     VARCHAR NOT NULL,
    version         INTEGER NOT NULL,
    golden_id       VARCHAR NOT NULL,
    change          VARCHAR NOT NULL,   -- entered | exited
    changed_at      TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS profile.segment_size (
    segment_key     VARCHAR NOT NULL,
    version         INTEGER NOT NULL,
    measured_at     TIMESTAMP NOT NULL,
    members         INTEGER NOT NULL,
    entered         INTEGER NOT NULL,
    exited          INTEGER NOT NULL
);
