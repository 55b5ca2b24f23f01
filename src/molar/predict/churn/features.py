"""Churn features per patient at a cut-off, and the label observed after it.

Features are computed from the profile's input tables built *as of the cut-off*
(``profile.inputs.build_inputs``), so nothing after the cut-off is visible to them, plus the
lifecycle computation at the same date (expected interval, overdue ratio, spend trend,
upcoming booking). The label — no visit in the ``horizon`` days after the cut-off — is read
from the visits themselves, so any chain's own exports can be evaluated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from molar.profile.inputs import build_inputs
from molar.profile.lifecycle import compute_lifecycle
from molar.warehouse import Engine


@dataclass(frozen=True)
class Feature:
    name: str
    en: str  # "{v}" is the patient's value
    zh: str


FEATURES = (
    Feature("days_since_last_visit", "no visit for {v:.0f} days", "已{v:.0f}天未就诊"),
    Feature("expected_interval_days", "usual recall interval {v:.0f} days", "平时约{v:.0f}天复诊一次"),
    Feature("overdue_ratio", "{v:.1f}× their usual interval since the last visit", "距上次就诊已达平时间隔的{v:.1f}倍"),
    Feature("last_gap_ratio", "last interval {v:.1f}× their usual one (stretching)", "最近一次就诊间隔为平时的{v:.1f}倍（间隔拉长）"),
    Feature("visit_days_365d", "{v:.0f} visit day(s) in the last year", "近一年就诊{v:.0f}天"),
    Feature("visit_days_prev_365d", "{v:.0f} visit day(s) in the year before", "前一年就诊{v:.0f}天"),
    Feature("cleanings_365d", "{v:.0f} cleaning(s) in the last year", "近一年洁牙{v:.0f}次"),
    Feature("cleanings_prev_365d", "{v:.0f} cleaning(s) in the year before", "前一年洁牙{v:.0f}次"),
    Feature("spend_365d", "spent ¥{v:,.0f} in the last year", "近一年消费¥{v:,.0f}"),
    Feature("spend_trend", "spend {v:+.0%} on the year before", "消费较前一年变化{v:+.0%}"),
    Feature("tenure_days", "patient for {v:.0f} days", "成为患者{v:.0f}天"),
    Feature("has_upcoming_booking", "upcoming booking: {v:.0f} (1 = yes)", "已有预约：{v:.0f}（1为有）"),
    Feature("no_shows_365d", "{v:.0f} missed booking(s) in a year", "近一年爽约{v:.0f}次"),
    Feature("cancellations_365d", "{v:.0f} cancelled booking(s) in a year", "近一年取消预约{v:.0f}次"),
    Feature("online_booking_share", "{v:.0%} of bookings made online", "线上预约占{v:.0%}"),
    Feature("complaints_365d", "{v:.0f} complaint(s) in a year", "近一年投诉{v:.0f}次"),
    Feature("satisfied_365d", "{v:.0f} satisfied message(s) in a year", "近一年满意反馈{v:.0f}条"),
    Feature("app_actions_90d", "{v:.0f} app/WeChat action(s) in 90 days", "近90天App/微信互动{v:.0f}次"),
    Feature("brushing_days_30d", "smart toothbrush used {v:.0f} of the last 30 days", "近30天使用智能牙刷{v:.0f}天"),
    Feature("has_member_card", "member card: {v:.0f} (1 = yes)", "会员卡：{v:.0f}（1为有）"),
    Feature("age_years", "aged {v:.0f}", "年龄{v:.0f}岁"),
)
NAMES = [f.name for f in FEATURES]


def churn_features(engine: Engine, cutoff: date, golden_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per patient with a visit on or before ``cutoff`` (of ``golden_ids`` only, when
    given); columns ``golden_id``, ``stage`` (the lifecycle rule's stage at the cut-off) and
    ``FEATURES``."""
    build_inputs(engine, cutoff, golden_ids)
    compute_lifecycle(engine, cutoff, "churn-features")
    d = f"DATE '{cutoff.isoformat()}'"
    year, prev = f"{d} - INTERVAL 365 DAY", f"{d} - INTERVAL 730 DAY"
    frame = engine.arrow(f"""
        WITH days AS (SELECT DISTINCT golden_id, visit_date FROM visits),
        gaps AS (SELECT golden_id, visit_date,
                        visit_date - lag(visit_date) OVER (PARTITION BY golden_id ORDER BY visit_date) AS gap
                 FROM days),
        v AS (SELECT golden_id,
                     count(*) FILTER (WHERE visit_date > {year}) AS visit_days_365d,
                     count(*) FILTER (WHERE visit_date <= {year} AND visit_date > {prev}) AS visit_days_prev_365d,
                     arg_max(gap, visit_date) FILTER (WHERE gap > 30)
                       / nullif(median(gap) FILTER (WHERE gap > 30), 0) AS last_gap_ratio
              FROM gaps GROUP BY golden_id),
        cln AS (SELECT golden_id,
                       count(DISTINCT visit_date) FILTER (WHERE visit_date > {year}) AS cleanings_365d,
                       count(DISTINCT visit_date) FILTER (WHERE visit_date <= {year} AND visit_date > {prev}) AS cleanings_prev_365d
                FROM treatments WHERE item_code = 'CLN' GROUP BY golden_id),
        ch AS (SELECT golden_id, sum(amount_yuan) FILTER (WHERE charged_on > {year}) AS spend_365d
               FROM charges GROUP BY golden_id),
        ap AS (SELECT golden_id,
                      count(*) FILTER (WHERE status = 'no_show' AND slot_start > {year}) AS no_shows_365d,
                      count(*) FILTER (WHERE status = 'cancelled' AND slot_start > {year}) AS cancellations_365d,
                      avg((channel IN ('wechat', 'app', 'web', 'online', 'miniprogram'))::INT)
                        FILTER (WHERE slot_start > {year}) AS online_booking_share
               FROM appointments GROUP BY golden_id),
        tx AS (SELECT golden_id,
                      count(*) FILTER (WHERE label = 'complaint') AS complaints_365d,
                      count(*) FILTER (WHERE label = 'satisfied') AS satisfied_365d
               FROM texts WHERE occurred_at > {year} GROUP BY golden_id),
        ev AS (SELECT golden_id, count(*) AS app_actions_90d FROM app_events
               WHERE occurred_at > {d} - INTERVAL 90 DAY GROUP BY golden_id),
        br AS (SELECT golden_id, count(DISTINCT measured_on) AS brushing_days_30d FROM telemetry
               WHERE measured_on > {d} - INTERVAL 30 DAY GROUP BY golden_id),
        cards AS (SELECT DISTINCT golden_id FROM cards)
        SELECT s.golden_id, s.stage,
               s.days_since_last::DOUBLE AS days_since_last_visit, s.expected_interval_days, s.overdue_ratio,
               v.last_gap_ratio, v.visit_days_365d, v.visit_days_prev_365d,
               coalesce(cln.cleanings_365d, 0) AS cleanings_365d, coalesce(cln.cleanings_prev_365d, 0) AS cleanings_prev_365d,
               coalesce(ch.spend_365d, 0) AS spend_365d, s.spend_trend,
               ({d} - dd.first_visit)::DOUBLE AS tenure_days,
               (s.reason LIKE '%upcoming booking%')::INT AS has_upcoming_booking,
               coalesce(ap.no_shows_365d, 0) AS no_shows_365d, coalesce(ap.cancellations_365d, 0) AS cancellations_365d,
               ap.online_booking_share,
               coalesce(tx.complaints_365d, 0) AS complaints_365d, coalesce(tx.satisfied_365d, 0) AS satisfied_365d,
               coalesce(ev.app_actions_90d, 0) AS app_actions_90d, coalesce(br.brushing_days_30d, 0) AS brushing_days_30d,
               (cards.golden_id IS NOT NULL)::INT AS has_member_card,
               date_diff('year', p.birth_date, {d})::DOUBLE AS age_years
        FROM stages s JOIN v USING (golden_id) JOIN person p USING (golden_id)
        JOIN (SELECT golden_id, min(visit_date) AS first_visit FROM days GROUP BY 1) dd USING (golden_id)
        LEFT JOIN cln USING (golden_id) LEFT JOIN ch USING (golden_id) LEFT JOIN ap USING (golden_id)
        LEFT JOIN tx USING (golden_id) LEFT JOIN ev USING (golden_id) LEFT JOIN br USING (golden_id)
        LEFT JOIN cards USING (golden_id)
        ORDER BY s.golden_id""").to_pandas()
    frame[NAMES] = frame[NAMES].astype(float)
    return frame


def labels(engine: Engine, golden_ids: pd.Series, cutoff: date, horizon_days: int) -> pd.Series:
    """1 where the patient has no visit in (cutoff, cutoff + horizon], else 0."""
    start, end = cutoff.isoformat(), (cutoff + timedelta(days=horizon_days)).isoformat()
    returned = {r[0] for r in engine.rows(f"""
        SELECT DISTINCT k.golden_id FROM std.visit v JOIN identity.cluster k USING (source, source_patient_key)
        WHERE v.visit_date > DATE '{start}' AND v.visit_date <= DATE '{end}'""")}
    return (~golden_ids.isin(returned)).astype(int)


def data_end(engine: Engine) -> date | None:
    """The last visit date in the warehouse: labels are observable up to it."""
    return engine.scalar("SELECT max(visit_date) FROM std.visit")
