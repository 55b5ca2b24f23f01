-- Monthly KPI targets (`molar report targets`): a target holds from its month on until a later
-- one for the same KPI and scope. clinic_id '' is the whole chain.
CREATE TABLE IF NOT EXISTS ops.kpi_target (
    kpi             VARCHAR NOT NULL,   -- a key of molar.reports.monthly.KPIS
    clinic_id       VARCHAR NOT NULL,
    applies_from    DATE NOT NULL,      -- first day of the first month it holds for
    value           DOUBLE NOT NULL,    -- count, yuan, or a rate in 0..1
    set_by          VARCHAR NOT NULL,
    set_at          TIMESTAMP NOT NULL,
    PRIMARY KEY (kpi, clinic_id, applies_from)
);
