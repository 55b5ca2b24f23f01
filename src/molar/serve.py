"""`molar serve`: the real-time server with every stage wired in.

This is the composition root (like `molar demo`): it sits above the layers and connects
them in the flow's order — the collector (`molar.realtime`) accepts events, a visit or a
payment rescores the patient's churn risk (`molar.predict.churn.live`) and lifetime value
(`molar.predict.clv.live`, with the latest stored model), the profile
stage refreshes per-event tags and lifecycle stages (`molar.profile.live`), the patients'
segments are recomputed (`molar.segments.live`), the automation engine decides and the
outbox delivers (`molar.automation`, `molar.delivery`).
A nightly job rescores churn risk with the latest stored model (when one was trained),
recomputes the whole profile, refreshes the segments and hands the crossings into the high
churn-risk band, the lifecycle and tier changes and the segment entries and exits to the
automation engine; a daily job writes last month's
report to a folder on the 1st when ``monthly_report_dir`` is set. The web console (`molar.web`) is served
by the same app under `/console`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta

from fastapi import FastAPI

from molar.config import ConfigError, Settings

log = logging.getLogger("molar.serve")


def nightly(engine, automation, today: date, plan_after_days: int = 14) -> dict:
    """The nightly job: rescore churn risk with the latest stored model (training stays
    `molar churn score`), recompute the profile, refresh the segments, and hand the crossings
    into the high churn-risk band, the lifecycle and tier changes, the segment entries and exits
    and the treatment plans still proposed ``plan_after_days`` after they were proposed to the
    automation engine."""
    from molar.marketing.plans import unaccepted_events
    from molar.predict.churn.score import latest_model_id, score_churn
    from molar.predict.churn.store import crossings
    from molar.profile.run import compute_profile, run_events
    from molar.segments.catalogue import load_catalogue as load_segments
    from molar.segments.members import refresh as refresh_segments

    churn = score_churn(engine, today, model_id=model_id) if (model_id := latest_model_id(engine)) else None
    summary = compute_profile(engine, today)
    events = run_events(engine, summary["run_id"])
    if churn:
        scored_at = datetime.fromisoformat(churn["scored_at"])
        events = crossings(engine, scored_at, scored_at + timedelta(microseconds=1)) + events
    with engine.transaction():
        events += unaccepted_events(engine, today, plan_after_days, automation.clock())
        entries, _ = refresh_segments(engine, load_segments(engine).values(), today, automation.clock())
        automation.on_events(engine, events + entries)
    log.info("profile recomputed: %s patients, %s churn-risk crossings, stage/tier changes and unaccepted plans, "
             "%s segment entries and exits", summary["patients"], len(events), len(entries))
    return summary


def monthly_report_job(settings: Settings, now: Callable[[], datetime], *, first_after: timedelta):
    """The daily check that writes last month's reports; the folder and, for PDF, chromium
    and Playwright are checked here, so a server that cannot write them does not start."""
    from molar.realtime.pipeline import IntervalJob
    from molar.reports.pdf import PrintError, chromium
    from molar.reports.scheduled import Schedule, write_due

    folder = settings.monthly_report_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"monthly_report_dir={str(folder)!r}: cannot create the folder ({exc.strerror}); "
                          "name a folder molar serve may write to / 月报目录无法创建") from exc
    if settings.monthly_report_format == "pdf":
        try:
            import playwright  # noqa: F401
            chromium()
        except ImportError as exc:
            raise ConfigError("monthly_report_format='pdf' needs Playwright: pip install 'molar[pdf]', "
                              "or set monthly_report_format = 'html' / PDF 月报需要 molar[pdf]") from exc
        except PrintError as exc:
            raise ConfigError(f"monthly_report_format='pdf': {exc}") from exc
    schedule = Schedule(folder, settings.monthly_report_lang, settings.monthly_report_format)
    return IntervalJob("monthly_report", timedelta(hours=24),
                       lambda engine: write_due(engine, now().date(), schedule), first_after=first_after)


def build_server(
    settings: Settings,
    *,
    clock: Callable[[], datetime] | None = None,
    profile_every: timedelta = timedelta(hours=24),
    profile_first_after: timedelta = timedelta(hours=1),
    report_first_after: timedelta = timedelta(minutes=10),
    tick_seconds: float = 0.1,
    classify: Callable[[list[str]], tuple[list[str], list[float]]] | None = None,
) -> FastAPI:
    """The app `molar serve` runs. ``clock`` returns clinic local time (naive)."""
    from molar.automation.api import rules_router
    from molar.automation.runtime import Automation
    from molar.predict.churn.live import LiveChurn
    from molar.predict.clv.live import LiveClv
    from molar.profile.live import LiveProfile
    from molar.realtime.app import AUTH_ERRORS, audit_read, create_app
    from molar.realtime.auth import permit
    from molar.realtime.pipeline import IntervalJob
    from molar.realtime.schemas import local_now
    from molar.segments.live import LiveSegments
    from molar.web.console import install as install_console

    now = clock or local_now
    automation = Automation.from_settings(settings, clock=now)
    live = LiveProfile(today=lambda: now().date(), classify=classify)

    def recompute_profile(engine) -> dict:
        return nightly(engine, automation, now().date(), settings.plan_unaccepted_after_days)

    jobs = [IntervalJob("profile", profile_every, recompute_profile, first_after=profile_first_after)]
    if settings.monthly_report_dir is not None:
        jobs.append(monthly_report_job(settings, now, first_after=report_first_after))

    app = create_app(
        settings,
        stages=[LiveChurn(today=lambda: now().date()), LiveClv(today=lambda: now().date()), live,
                LiveSegments(today=lambda: now().date()),
                automation.on_events],
        tick_hooks=[automation.tick],
        routers=[rules_router(
            catalogue=automation.catalogue, clock=now, guard=permit, responses=AUTH_ERRORS,
            actor=lambda request: request.state.principal.name,
            on_audit=lambda request, action, patient, detail: audit_read(
                request, action=action, patient=patient, detail=detail),
        )],
        jobs=jobs,
        clock=now,
        tick_seconds=tick_seconds,
    )
    install_console(app)
    return app
