-- Appointment demand forecasts (src/molar/operations, `molar ops forecast`). One run per
-- forecast_id; the newest run is the one staffing and the console read.
CREATE TABLE IF NOT EXISTS ops.demand_forecast_run (
    forecast_id         VARCHAR PRIMARY KEY,
    created_at          TIMESTAMP NOT NULL,
    data_end            DATE NOT NULL,      -- last day of history the run saw
    first_week          DATE NOT NULL,      -- Monday of the first forecast week
    weeks               INTEGER NOT NULL,
    summary             VARCHAR NOT NULL    -- JSON: config, held-out metrics, dispersion, versions
);
-- Expected counts with their prediction interval, per slot (clinic × department × weekday ×
-- hour) and per clinic × department week (weekday and hour NULL).
CREATE TABLE IF NOT EXISTS ops.demand_forecast (
    forecast_id         VARCHAR NOT NULL,
    level               VARCHAR NOT NULL,   -- slot | clinic_department
    week_start          DATE NOT NULL,
    clinic_id           VARCHAR NOT NULL,
    department          VARCHAR NOT NULL,
    weekday             INTEGER,            -- 0 = Monday
    hour                INTEGER,
    measure             VARCHAR NOT NULL,   -- appointments | arrivals
    expected            DOUBLE NOT NULL,
    low                 DOUBLE NOT NULL,    -- interval bounds at the run's level (80 %)
    high                DOUBLE NOT NULL
)
