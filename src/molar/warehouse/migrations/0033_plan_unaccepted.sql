-- Treatment plans that stayed proposed N days after they were proposed and have been handed to
-- the automation engine as a `plan.unaccepted` event: one row per plan, so the event is emitted
-- once however often the nightly job runs (molar.marketing.plans.unaccepted_events).
CREATE TABLE IF NOT EXISTS profile.plan_unaccepted (
    plan_id        VARCHAR PRIMARY KEY,
    golden_id      VARCHAR NOT NULL,
    proposed_on    DATE NOT NULL,
    due_at         TIMESTAMP NOT NULL,   -- proposed_on + N days: when the plan became unaccepted
    emitted_at     TIMESTAMP NOT NULL
)
