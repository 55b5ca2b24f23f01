"""The lead funnel per channel, campaign, clinic or consultant: lead → consult → booking → arrival.

Stage counts are leads that reached at least that stage. CAC is the spend of the group
(months from the month of ``since``) over the leads that arrived as new patients; CVR is
arrived over leads; revenue is what those patients paid from their arrival on (HIS
charges of the record the lead became); plans accepted counts arrived leads with an
accepted or partly done treatment plan proposed on or after their arrival.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from molar.warehouse.engine import Engine

# Group expression over std.lead (l) and over std.marketing_spend (s); consultants have no spend.
GROUPS: dict[str, tuple[str, str | None]] = {
    "channel": ("l.channel", "s.channel"),
    "campaign": ("coalesce(l.campaign, '')", "s.campaign"),
    "clinic": ("l.clinic_id", "s.clinic_id"),
    "consultant": ("coalesce(l.consultant, '')", None),
    "total": ("'total'", "'total'"),
}
STAGES = ("leads", "consulted", "booked", "arrived")


class FunnelError(ValueError):
    """Bad funnel arguments; the message says what to write instead."""


def _days(later: str, earlier: str) -> str:
    return f"round(median(epoch({later}) - epoch({earlier})) / 86400, 2)"


def funnel(engine: Engine, by: str, since: date | None = None, clinics: Iterable[str] | None = None) -> list[dict]:
    """One row per group: stage counts, stage conversion rates, median days between stages,
    spend, CAC, CVR, revenue and ROI."""
    if by not in GROUPS:
        raise FunnelError(f"--by {by!r}: write one of {', '.join(g for g in GROUPS if g != 'total')}")
    lead_group, spend_group = GROUPS[by]
    clinic_list = sorted(clinics) if clinics is not None else None
    where = "(CAST(? AS DATE) IS NULL OR l.created_at >= CAST(? AS DATE)) AND (? IS NULL OR list_contains(?, l.clinic_id))"
    params: list = [since, since, clinic_list, clinic_list]
    spend_sql = "SELECT NULL AS grp, NULL AS spend WHERE false"
    if spend_group is not None:
        spend_sql = f"""
            SELECT {spend_group} AS grp, sum(s.spend_yuan) AS spend FROM std.marketing_spend s
            WHERE (CAST(? AS DATE) IS NULL OR s.month >= date_trunc('month', CAST(? AS DATE)))
              AND (? IS NULL OR list_contains(?, s.clinic_id))
            GROUP BY ALL"""
        params += [since, since, clinic_list, clinic_list]
    sql = f"""
        WITH l AS (
            SELECT l.*, {lead_group} AS grp,
                   coalesce(l.consulted_at, l.booked_at, l.arrived_at) AS reached_consult,
                   coalesce(l.booked_at, l.arrived_at) AS reached_booking
            FROM std.lead l WHERE {where}
        ),
        arrived AS (SELECT * FROM l WHERE arrived_at IS NOT NULL),
        revenue AS (
            SELECT a.lead_id, sum(c.paid_yuan) AS revenue
            FROM arrived a JOIN std.charge c
              ON c.source = a.source AND c.source_patient_key = a.source_patient_key
             AND c.charged_on >= CAST(a.arrived_at AS DATE)
            GROUP BY a.lead_id
        ),
        planned AS (
            SELECT DISTINCT a.lead_id
            FROM arrived a JOIN std.treatment_plan p
              ON p.source = a.source AND p.source_patient_key = a.source_patient_key
             AND p.proposed_on >= CAST(a.arrived_at AS DATE) AND p.status IN ('accepted', 'partially_done')
        ),
        funnel AS (
            SELECT grp, count(*) AS leads, count(reached_consult) AS consulted, count(reached_booking) AS booked,
                   count(arrived_at) AS arrived, count(planned.lead_id) AS plans_accepted,
                   coalesce(sum(revenue.revenue), 0) AS revenue,
                   {_days('l.consulted_at', 'l.created_at')} AS days_lead_to_consult,
                   {_days('l.booked_at', 'l.consulted_at')} AS days_consult_to_booking,
                   {_days('l.arrived_at', 'l.booked_at')} AS days_booking_to_arrival,
                   {_days('l.arrived_at', 'l.created_at')} AS days_lead_to_arrival
            FROM l LEFT JOIN revenue USING (lead_id) LEFT JOIN planned USING (lead_id)
            GROUP BY grp
        ),
        spend AS ({spend_sql})
        SELECT f.*, spend.spend FROM funnel f LEFT JOIN spend USING (grp) ORDER BY f.leads DESC, f.grp
    """
    table = engine.arrow(sql, params).to_pylist()
    return [_row(by, r) for r in table]


def _ratio(a, b) -> float | None:
    return None if a is None or not b else round(float(a) / float(b), 4)


def _row(by: str, r: dict) -> dict:
    spend = None if r["spend"] is None else round(float(r["spend"]), 2)
    revenue = round(float(r["revenue"]), 2)
    return {
        by: r["grp"] or None,
        "leads": r["leads"], "consulted": r["consulted"], "booked": r["booked"], "arrived": r["arrived"],
        "plans_accepted": r["plans_accepted"],
        "consult_rate": _ratio(r["consulted"], r["leads"]), "booking_rate": _ratio(r["booked"], r["consulted"]),
        "arrival_rate": _ratio(r["arrived"], r["booked"]), "cvr": _ratio(r["arrived"], r["leads"]),
        "median_days": {
            "lead_to_consult": r["days_lead_to_consult"], "consult_to_booking": r["days_consult_to_booking"],
            "booking_to_arrival": r["days_booking_to_arrival"], "lead_to_arrival": r["days_lead_to_arrival"],
        },
        "spend": spend,
        "cac": None if spend is None or not r["arrived"] else round(spend / r["arrived"], 2),
        "revenue": revenue,
        "roi": None if not spend else round((revenue - spend) / spend, 4),
    }
