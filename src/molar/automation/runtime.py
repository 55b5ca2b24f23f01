"""The automation engine: events in, journeys advanced, decisions recorded, outbox sent.

The real-time worker calls, from its single thread::

    automation = Automation.from_settings(settings)
    derived = automation.on_events(engine, events)   # inside its DuckDB transaction
    automation.tick(engine, now)                     # every ~100 ms: timers, schedules, outbox

``on_events`` decides and writes (journeys, timers, outbox rows, tasks, decisions) in the
caller's transaction and never does network I/O. ``tick`` fires due timers (each in a
transaction that marks the timer fired and continues its journey, so once only), runs
daily schedules in batches and dispatches the outbox (HTTP outside our transactions;
see molar.delivery.outbox for the delivery guarantees). Both are idempotent: an event
processed twice starts one journey (ops.journey primary key), a step runs once per
occurrence (idempotency keys), a timer fires once.

Nothing here reads the wall clock except the default ``clock`` (injectable).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from molar.automation.catalogue import (
    CHANNELS,
    Branch,
    Catalogue,
    Coupon,
    Rule,
    Send,
    SetTag,
    Task,
    Wait,
    load_catalogue,
)
from molar.automation.clock import Clock, system_clock
from molar.automation.conditions import MISSING, Outcome, compare, describe, evaluate, resolve
from molar.automation.decisions import flush_decisions, record_decision
from molar.automation.dispatching import Dispatching
from molar.automation.durations import format_duration
from molar.automation.facts import FactsProvider, WarehouseFacts, as_provider
from molar.automation.guards import Policy, load_policy
from molar.automation.journey import Journey, short_hash
from molar.automation.steps import JourneySteps
from molar.automation.timers import TimersAndSchedules
from molar.delivery.channels import Channel, LocalSink, channels_from_settings
from molar.delivery.outbox import DispatchResult
from molar.delivery.tasks import create_task
from molar.model.events import Event, impersonal
from molar.privacy.consent import record_consent
from molar.warehouse import Engine

MAX_DERIVED_DEPTH = 3  # derived events applied in the same call, at most this deep


def holdout_bucket(rule_key: str, golden_id: str) -> float:
    """The patient's fixed place in 0..100 for this rule; below holdout_percent = held out."""
    digest = hashlib.sha256(f"{rule_key}\x1f{golden_id}".encode()).hexdigest()
    return int(digest[:12], 16) / float(16**12) * 100.0


def is_held_out(rule: Rule, golden_id: str) -> bool:
    return rule.holdout_percent > 0 and holdout_bucket(rule.key, golden_id) < rule.holdout_percent


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | set):
        return list(value)
    return str(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def _parse_day(value: Any, fallback: date) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except (TypeError, ValueError):
        return fallback


@dataclass
class TickReport:
    timers_fired: int = 0
    scheduled: int = 0
    dispatched: list[DispatchResult] = field(default_factory=list)
    derived: list[Event] = field(default_factory=list)


class Automation(JourneySteps, TimersAndSchedules, Dispatching):
    """Rule engine + guard policy + outbox dispatch, against any warehouse Engine."""

    def __init__(self, catalogue: Catalogue | None = None, policy: Policy | None = None, *,
                 facts: FactsProvider | Callable[[Engine, str], Mapping[str, Any]] | None = None,
                 channels: Mapping[str, Channel] | None = None, clock: Clock | None = None) -> None:
        self.catalogue = catalogue or load_catalogue()
        self.policy = policy or load_policy()
        self.facts: FactsProvider = as_provider(facts) if facts is not None else WarehouseFacts(
            self.policy.complaint_window, self.policy.complaint_resolved_by)
        self.channels: dict[str, Channel] = dict(channels) if channels is not None else \
            {name: LocalSink(name) for name in CHANNELS}
        self.clock: Clock = clock or system_clock(self.policy.timezone)
        self.last_tick = TickReport()
        self._gate_results: dict[str, Any] = {}
        self._decisions: list[list[Any]] | None = None
        self._facts_cache: dict[str, dict[str, Any]] = {}
        self._last_events: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._streaks: dict[tuple[str, str], tuple[Any, ...] | None] = {}
        self._schedule_done: set[tuple[str, date]] = set()
        self._enabled_now: dict[str, bool] = {}
        self._paused_channels: dict[str, datetime] = {}  # gateway failed: channel rests until then  # (rule, day) runs known to be finished

    @classmethod
    def from_settings(cls, settings: Any = None, **overrides: Any) -> Automation:
        """Catalogue from ``rules_dir``, policy from ``automation_policy``, channels from
        ``[channels.*]`` (a LocalSink for any channel without a URL)."""
        rules_dir = getattr(settings, "rules_dir", None)
        policy_file = getattr(settings, "automation_policy", None)
        policy = overrides.pop("policy", None) or load_policy(Path(policy_file) if policy_file else None)
        catalogue = overrides.pop("catalogue", None) or load_catalogue(Path(rules_dir) if rules_dir else None)
        channels = overrides.pop("channels", None)
        if channels is None:
            channels = channels_from_settings(getattr(settings, "channels", None) or {},
                                              timeout=policy.dispatch.timeout.total_seconds())
        return cls(catalogue, policy, channels=channels, **overrides)

    # ------------------------------------------------------------------ rule state

    def enabled_rules(self, engine: Engine) -> dict[str, bool]:
        overrides = dict(engine.rows("SELECT rule_key, enabled FROM ops.rule_state"))
        return {key: bool(overrides.get(key, rule.enabled)) for key, rule in self.catalogue.rules.items()}

    # ------------------------------------------------------------------ events

    def on_events(self, engine: Engine, events: Iterable[Event], now: datetime | None = None) -> list[Event]:
        """Apply a batch of events; returns derived events (tag.changed from set_tag steps).

        Derived events are also applied here at once (a tag set by one journey can start
        another); applying them again later is harmless (journeys are keyed by event ID).
        ``now`` (default: the engine's clock) is when the decisions are taken."""
        now = now or self.clock()
        events = list(events)
        derived: list[Event] = []
        if not events:
            return derived
        with engine.transaction(), self._batch(engine):
            enabled = self.enabled_rules(engine)
            queue, depth = events, 0
            while queue and depth <= MAX_DERIVED_DEPTH:
                produced: list[Event] = []
                for event in queue:
                    produced += self._handle(engine, event, now, enabled)
                derived += produced  # tag.changed from set_tag can trigger other rules right away
                queue, depth = produced, depth + 1
            self._flush_last_events(engine)
            self._flush_streaks(engine, now)
        return derived

    # ------------------------------------------------------------------ batch state

    @contextmanager
    def _batch(self, engine: Engine) -> Iterator[None]:
        """Within one batch: decisions, last events and streaks are written in bulk, and
        facts are read once per patient (dropped when a consent, complaint or reply arrives)."""
        if self._decisions is not None:  # nested (schedules inside tick): join the outer batch
            yield
            return
        self._decisions, self._facts_cache, self._last_events, self._streaks = [], {}, {}, {}
        try:
            yield
            flush_decisions(engine, self._decisions)
        finally:
            self._decisions = None
            self._facts_cache, self._last_events, self._streaks = {}, {}, {}

    def _facts_of(self, engine: Engine, golden_id: str, now: datetime) -> dict[str, Any]:
        cached = self._facts_cache.get(golden_id)
        if cached is None:
            cached = self.facts.many(engine, [golden_id], now)[golden_id]
            if self._decisions is not None:
                self._facts_cache[golden_id] = cached
        return cached

    def _flush_last_events(self, engine: Engine) -> None:
        engine.insert_rows(
            "ops.last_event", list(self._last_events.values()),
            "ON CONFLICT (golden_id, event_type) DO UPDATE SET event_id = excluded.event_id, "
            "occurred_at = excluded.occurred_at, data = excluded.data "
            "WHERE excluded.occurred_at >= ops.last_event.occurred_at")
        self._last_events = {}

    def _flush_streaks(self, engine: Engine, now: datetime) -> None:
        rows = [(rule_key, golden_id, *state[:4], now) for (rule_key, golden_id), state in self._streaks.items()
                if state is not None and state[-1]]
        engine.insert_rows(
            "ops.threshold_streak", rows,
            "ON CONFLICT (rule_key, golden_id) DO UPDATE SET streak_start = excluded.streak_start, "
            "last_day = excluded.last_day, streak = excluded.streak, last_value = excluded.last_value, "
            "updated_at = excluded.updated_at")
        self._streaks = {}

    def _handle(self, engine: Engine, event: Event, now: datetime, enabled: dict[str, bool]) -> list[Event]:
        data = impersonal(event.data)   # rules, journeys and replies never see or keep free text
        kind = event.type
        if kind in ("consent.changed", "consult.message", "review.posted", "followup.reply"):
            self._facts_cache.pop(event.golden_id, None)
        if kind == "consent.changed":
            channel, purpose = data.get("channel"), data.get("purpose")
            if channel in CHANNELS and purpose in ("care", "marketing") and isinstance(data.get("granted"), bool):
                record_consent(engine, golden_id=event.golden_id, channel=channel, purpose=purpose,
                               granted=data["granted"], changed_at=event.occurred_at, source=event.source,
                               event_id=event.event_id)
        elif kind in ("consult.message", "review.posted") and data.get("sentiment") == "complaint":
            engine.execute("INSERT INTO ops.complaint VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                           [event.event_id, event.golden_id, event.occurred_at, event.source])
        elif kind == "followup.reply":
            engine.execute(
                "INSERT INTO ops.followup_reply VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [event.event_id, event.golden_id, str(data.get("status", "")), data.get("rule"),
                 data.get("occurrence"), event.occurred_at, _dumps(data)],
            )
        if kind in self.catalogue.listened_event_types:
            key = (event.golden_id, kind)
            seen = self._last_events.get(key)
            if seen is None or seen[3] <= event.occurred_at:
                self._last_events[key] = (event.golden_id, kind, event.event_id, event.occurred_at, _dumps(data))
        derived: list[Event] = []
        for rule in self.catalogue.rules_for_event(kind):
            if not enabled.get(rule.key):
                continue
            if rule.trigger.kind == "threshold":
                occurrence = self._threshold(engine, rule, event, data, now)
            else:
                occurrence = event.event_id if evaluate(rule.trigger.filter, data).ok else None
            if occurrence is not None:
                derived += self.start(engine, rule, event.golden_id, occurrence, now, event=event)
        if kind == "followup.reply":
            derived += self._wake_on_reply(engine, event, data, now, enabled)
        return derived

    def _threshold(self, engine: Engine, rule: Rule, event: Event, data: dict[str, Any], now: datetime) -> str | None:
        trigger = rule.trigger
        value = resolve(data, trigger.field or "")
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        day = _parse_day(data.get(trigger.day_field), event.occurred_at.date())
        key = (rule.key, event.golden_id)
        if key not in self._streaks:
            row = engine.rows("SELECT streak_start, last_day, streak, last_value FROM ops.threshold_streak "
                              "WHERE rule_key = ? AND golden_id = ?", [rule.key, event.golden_id])
            self._streaks[key] = (*row[0], False) if row else None
        state = self._streaks[key]
        if state is not None and day <= state[1]:
            return None  # a day already counted (duplicate or late data)
        over = compare(number, trigger.op or ">", trigger.value)
        if over:
            consecutive = state is not None and state[2] > 0 and (day - state[1]).days == 1
            streak, start = (state[2] + 1, state[0]) if consecutive else (1, day)
        else:
            streak, start = 0, None
        self._streaks[key] = (start, day, streak, number, True)
        if over and streak >= trigger.days:
            return f"streak:{start.isoformat()}"  # one journey per streak, however long it runs
        return None

    # ------------------------------------------------------------------ journeys

    def _journey_exists(self, engine: Engine, rule: Rule, golden_id: str, occurrence: str) -> bool:
        return bool(engine.scalar("SELECT count(*) FROM ops.journey WHERE rule_key = ? AND golden_id = ? "
                                  "AND occurrence = ?", [rule.key, golden_id, occurrence]))

    def _insert_journey(self, engine: Engine, j: Journey, now: datetime) -> None:
        engine.execute(
            "INSERT INTO ops.journey VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [j.rule_key, j.golden_id, j.occurrence, j.rule_version, j.status, j.step, j.trigger_type,
             j.trigger_event_id, j.trigger_at, j.anchor_at, j.wait_started_at, _dumps(j.context), now, now],
        )

    def _save_journey(self, engine: Engine, j: Journey, now: datetime) -> None:
        engine.execute(
            "UPDATE ops.journey SET status = ?, step = ?, anchor_at = ?, wait_started_at = ?, context = ?, "
            "updated_at = ? WHERE rule_key = ? AND golden_id = ? AND occurrence = ?",
            [j.status, j.step, j.anchor_at, j.wait_started_at, _dumps(j.context), now, j.rule_key, j.golden_id,
             j.occurrence],
        )

    def _load_journey(self, engine: Engine, rule_key: str, golden_id: str, occurrence: str) -> Journey | None:
        rows = engine.rows(
            "SELECT rule_version, trigger_type, trigger_event_id, trigger_at, anchor_at, wait_started_at, context, "
            "status, step FROM ops.journey WHERE rule_key = ? AND golden_id = ? AND occurrence = ?",
            [rule_key, golden_id, occurrence],
        )
        if not rows:
            return None
        version, ttype, tevent, trigger_at, anchor_at, wait_started, context, status, step = rows[0]
        return Journey(rule_key, golden_id, occurrence, version, ttype, tevent, trigger_at, anchor_at,
                       wait_started, json.loads(context or "{}"), status, step)

    def _decide(self, engine: Engine, j: Journey, now: datetime, action: str, outcome: str,
                step: str | None = None, **kwargs: Any) -> str:
        return record_decision(engine, now=now, rule_key=j.rule_key, rule_version=j.rule_version,
                               golden_id=j.golden_id, occurrence=j.occurrence, step=step, action=action,
                               outcome=outcome, event_id=kwargs.pop("event_id", j.trigger_event_id),
                               buffer=self._decisions, **kwargs)

    def start(self, engine: Engine, rule: Rule, golden_id: str, occurrence: str, now: datetime, *,
              event: Event | None = None, facts: dict[str, Any] | None = None) -> list[Event]:
        """A trigger fired: check conditions and holdout, start the journey (once per occurrence)."""
        if self._journey_exists(engine, rule, golden_id, occurrence):
            return []
        trigger_at = event.occurred_at if event else now
        context: dict[str, Any] = {"event": {}}
        if event is not None:
            context["event"] = {**impersonal(event.data), "type": event.type, "event_id": event.event_id,
                                "occurred_at": event.occurred_at}
        j = Journey(rule.key, golden_id, occurrence, rule.version, event.type if event else "schedule",
                    event.event_id if event else None, trigger_at, trigger_at, None, context)
        what_en = f"triggered by {event.type} {event.event_id} at {trigger_at:%Y-%m-%d %H:%M}" if event else \
            f"scheduled run on {occurrence.removeprefix('day:')}"
        what_zh = f"由 {event.type} {event.event_id}（{trigger_at:%Y-%m-%d %H:%M}）触发" if event else \
            f"{occurrence.removeprefix('day:')} 定时运行"
        base_detail = {"trigger": rule.trigger.kind, "event_type": event.type if event else None,
                       "trigger_at": trigger_at}

        def stop(status: str, outcome: str, code: str, en: str, zh: str, **detail: Any) -> list[Event]:
            j.status = status
            self._insert_journey(engine, j, now)
            self._decide(engine, j, now, "trigger", outcome, code=code, en=f"{what_en}; {en}",
                         zh=f"{what_zh}；{zh}", detail={**base_detail, **detail})
            return []

        if self.policy.stale_after and event is not None and trigger_at < now - self.policy.stale_after:
            age = format_duration(self.policy.stale_after)
            return stop("stale", "too_old", "too_old",
                        f"not started: the event is older than {age} when it arrived ({now:%Y-%m-%d %H:%M})",
                        f"未启动：事件到达时已超过{format_duration(self.policy.stale_after, 'zh')}", arrived_at=now)
        if rule.cooldown:
            recent = engine.scalar(
                "SELECT max(trigger_at) FROM ops.journey WHERE rule_key = ? AND golden_id = ? "
                "AND status IN ('running', 'waiting', 'completed', 'stopped') AND trigger_at > ? AND trigger_at <= ?",
                [rule.key, golden_id, trigger_at - rule.cooldown, trigger_at],
            )
            if recent is not None:
                span = format_duration(rule.cooldown)
                return stop("cooldown", "cooldown", "cooldown",
                            f"not started: the rule already ran for this patient on {recent:%Y-%m-%d} "
                            f"(at most once every {span})",
                            f"未启动：该规则已于 {recent:%Y-%m-%d} 对该患者执行（每{format_duration(rule.cooldown, 'zh')}最多一次）",
                            previous=recent, cooldown=span)
        if facts is None:
            facts = self._facts_of(engine, golden_id, now)
        result = evaluate(rule.conditions, {**facts, "event": context["event"]})
        if not result.ok:
            return stop("condition_false", "condition_false", "condition_false",
                        f"conditions not met: {result.describe('en')}", f"条件不满足：{result.describe('zh')}",
                        **_outcome_detail(result))
        if is_held_out(rule, golden_id):
            bucket = holdout_bucket(rule.key, golden_id)
            return stop("held_out", "held_out", "holdout",
                        f"held out: the patient is in this rule's {rule.holdout_percent:g}% control group "
                        f"(bucket {bucket:.2f} < {rule.holdout_percent:g}); nothing is sent",
                        f"对照组：患者属于该规则 {rule.holdout_percent:g}% 的对照组（分桶 {bucket:.2f}），不执行动作",
                        bucket=round(bucket, 4), holdout_percent=rule.holdout_percent)
        j.step = rule.first
        self._insert_journey(engine, j, now)
        self._decide(engine, j, now, "trigger", "started", code="started", en=f"{what_en}; journey started",
                     zh=f"{what_zh}；旅程开始", detail=base_detail)
        return self._advance(engine, rule, j, rule.first, now, facts)

    def _advance(self, engine: Engine, rule: Rule, j: Journey, path: str | None, now: datetime,
                 facts: dict[str, Any] | None = None) -> list[Event]:
        derived: list[Event] = []
        if facts is None:
            facts = self._facts_of(engine, j.golden_id, now)
        while path is not None:
            step = rule.step(path)
            if step is None:
                j.status, j.step = "stopped", path
                self._save_journey(engine, j, now)
                self._decide(engine, j, now, "end", "stopped", path, code="rule_changed",
                             en="stopped: the rule was edited and this step no longer exists",
                             zh="已停止：规则已修改，该步骤不存在")
                return derived
            if isinstance(step, Wait):
                due = j.trigger_at + step.after_trigger if step.after_trigger else j.anchor_at + step.duration  # type: ignore[operator]
                engine.execute(
                    "INSERT INTO ops.timer VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, NULL) ON CONFLICT DO NOTHING",
                    ["W" + short_hash(j.key(path)), j.rule_key, j.golden_id, j.occurrence, path, due,
                     "followup.reply" if step.until_reply else None, now],
                )
                j.status, j.step, j.wait_started_at = "waiting", path, now
                self._save_journey(engine, j, now)
                self._decide(engine, j, now, "wait", "waiting", path, code="waiting",
                             en=f"{step.describe('en')}: timer due at {due:%Y-%m-%d %H:%M}",
                             zh=f"{step.describe('zh')}：计时器将于 {due:%Y-%m-%d %H:%M} 到期",
                             detail={"due_at": due, "until_reply": step.until_reply})
                return derived
            if isinstance(step, Send):
                self._send(engine, rule, j, step, now, facts)
            elif isinstance(step, Task):
                due = now + step.due
                task_id, _ = create_task(engine, idempotency_key=j.key(path), kind=step.task_kind,
                                         golden_id=j.golden_id, due_at=due, now=now, role=step.role,
                                         title_zh=step.title_zh, title_en=step.title_en, rule_key=j.rule_key,
                                         occurrence=j.occurrence, step=path)
                self._decide(engine, j, now, "task", "task_created", path, code=step.task_kind,
                             en=f"staff task '{step.title_en}' ({step.task_kind}) for {step.role}, due {due:%Y-%m-%d %H:%M}",
                             zh=f"员工任务「{step.title_zh}」（{step.role}），截止 {due:%Y-%m-%d %H:%M}",
                             task_id=task_id, detail={"due_at": due, "role": step.role})
            elif isinstance(step, SetTag):
                derived += self._set_tag(engine, j, step, now, facts)
            elif isinstance(step, Coupon):
                self._coupon(engine, j, step, now, facts)
            elif isinstance(step, Branch):
                data = {**facts, "event": j.context.get("event", {}), "coupon": j.context.get("coupon", {}),
                        "reply": self._reply(engine, j, now)}
                result = evaluate(step.condition, data)
                chosen = step.then_path if result.ok else step.else_path
                self._decide(engine, j, now, "branch", "then" if result.ok else "else", path,
                             code="branch",
                             en=f"branch: {describe(step.condition)} → {'yes' if result.ok else 'no'} "
                                f"({result.describe('en')}); took the {'then' if result.ok else 'else'} steps",
                             zh=f"分支：{describe(step.condition, 'zh')} → {'是' if result.ok else '否'}（{result.describe('zh')}）",
                             detail=_outcome_detail(result))
                path = chosen
                continue
            path = step.next
        j.status, j.step = "completed", None
        self._save_journey(engine, j, now)
        self._decide(engine, j, now, "end", "completed", None, code="completed", en="journey completed",
                     zh="旅程结束")
        return derived

    # ------------------------------------------------------------------ tick

    def tick(self, engine: Engine, now: datetime | None = None) -> list[Event]:
        """Fire due timers, run daily schedules, dispatch the outbox. Returns derived events."""
        now = now or self.clock()
        enabled = self.enabled_rules(engine)
        report = TickReport()
        report.timers_fired, derived = self.fire_due_timers(engine, now, enabled)
        report.scheduled, more = self.run_schedules(engine, now, enabled)
        report.derived = derived + more
        if report.derived:
            report.derived += self.on_events(engine, report.derived, now)
        report.dispatched = self.dispatch(engine, now, enabled)
        self.last_tick = report
        return report.derived


def _outcome_detail(result: Outcome) -> dict[str, Any]:
    if result.check is None:
        return {}
    actual = None if result.actual is MISSING else result.actual
    return {"fact": result.check.fact, "op": result.check.op, "value": result.check.value, "actual": actual}
