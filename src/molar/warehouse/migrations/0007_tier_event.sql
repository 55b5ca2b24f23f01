-- Value tier changes between profile runs (tier.changed), read by the automation engine.
-- A patient's first tier is not a change and is not recorded.
CREATE TABLE IF NOT EXISTS profile.tier_event (
    event_id    VARCHAR NOT NULL,
    golden_id   VARCHAR NOT NULL,
    from_tier   VARCHAR NOT NULL,
    to_tier     VARCHAR NOT NULL,
    occurred_on DATE NOT NULL,
    run_id      VARCHAR NOT NULL
);
