"""`why`: did this patient get this rule's action, and if not, why not — in plain words.

Answers from what the engine recorded (ops.journey, ops.rule_decision, ops.timer,
ops.outbox, ops.task) and, when the rule never triggered, from the last event of the
trigger's type (ops.last_event), the threshold streak, or today's facts for a schedule.
Every sentence comes in English and Chinese.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from molar.automation.catalogue import Catalogue, Rule
from molar.automation.conditions import evaluate
from molar.automation.facts import FactsProvider, WarehouseFacts
from molar.warehouse import Engine


class ExplainError(ValueError):
    pass


@dataclass(frozen=True)
class Sentence:
    code: str
    en: str
    zh: str

    def text(self, lang: str = "en") -> str:
        return self.zh if lang == "zh" else self.en

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _t(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else str(value)


def _rule_state(engine: Engine, rule: Rule) -> tuple[bool, Sentence | None]:
    rows = engine.rows("SELECT enabled, updated_at, updated_by FROM ops.rule_state WHERE rule_key = ?", [rule.key])
    if rows:
        enabled, at, by = rows[0]
        if not enabled:
            who = f" by {by}" if by else ""
            return False, Sentence("rule_disabled", f"The rule is disabled (since {_t(at)}{who}); it starts no journeys.",
                                   f"该规则已停用（{_t(at)}{'，操作人 ' + by if by else ''}），不会启动新旅程。")
        return True, None
    if not rule.enabled:
        return False, Sentence("rule_disabled", f"The rule is disabled in {rule.path.name} (enabled: false); it starts "
                               "no journeys until enabled (`molar rules enable`).",
                               f"该规则在 {rule.path.name} 中未启用（enabled: false），启用前不会启动旅程。")
    return True, None


def _never_triggered(engine: Engine, rule: Rule, golden_id: str, facts: FactsProvider, now: datetime) -> list[Sentence]:
    trigger = rule.trigger
    out = [Sentence("never_triggered",
                    f"The rule never triggered for {golden_id}. It starts on: {trigger.describe('en')}.",
                    f"该规则从未对 {golden_id} 触发。触发条件：{trigger.describe('zh')}。")]
    if trigger.kind == "schedule":
        f = facts.many(engine, [golden_id], now)[golden_id]
        result = evaluate(trigger.audience, f)
        if result.ok:
            out.append(Sentence("audience_member", "The patient is in the audience today; the next daily run will "
                                f"include them (at {trigger.daily_at:%H:%M}).",
                                f"患者今天属于目标人群，将在下次定时运行（{trigger.daily_at:%H:%M}）时纳入。"))
        else:
            out.append(Sentence("audience_not_member", f"The patient is not in the audience: {result.describe('en')}.",
                                f"患者不在目标人群中：{result.describe('zh')}。"))
        return out
    row = engine.rows("SELECT event_id, occurred_at, data FROM ops.last_event WHERE golden_id = ? AND event_type = ?",
                      [golden_id, trigger.event_type])
    if not row:
        out.append(Sentence("no_event", f"No {trigger.event_type} event has been received for this patient.",
                            f"没有收到该患者的 {trigger.event_type} 事件。"))
        return out
    event_id, occurred_at, data = row[0]
    data = json.loads(data or "{}")
    if trigger.kind == "threshold":
        streak = engine.rows("SELECT streak, last_day, last_value FROM ops.threshold_streak WHERE rule_key = ? "
                             "AND golden_id = ?", [rule.key, golden_id])
        if streak:
            n, day, value = streak[0]
            out.append(Sentence(
                "streak_short",
                f"The last {trigger.event_type} ({day}) had {trigger.field} = {value:g}; days in a row with "
                f"{trigger.field} {trigger.op} {trigger.value:g}: {n}, needs {trigger.days}.",
                f"最近一次 {trigger.event_type}（{day}）{trigger.field} = {value:g}；连续满足 {trigger.field} "
                f"{trigger.op} {trigger.value:g} 的天数：{n}，需要 {trigger.days} 天。"))
        else:
            out.append(Sentence("streak_none", f"The last {trigger.event_type} was {event_id} at {_t(occurred_at)}; no "
                                f"usable {trigger.field} value was counted.",
                                f"最近一次 {trigger.event_type} 为 {event_id}（{_t(occurred_at)}），没有可计数的 {trigger.field}。"))
        return out
    result = evaluate(trigger.filter, data)
    if result.ok:
        out.append(Sentence("event_matched_while_off", f"The last {trigger.event_type} ({event_id} at {_t(occurred_at)}) "
                            "matches the trigger; it arrived while the rule was disabled or before it existed.",
                            f"最近一次 {trigger.event_type}（{event_id}，{_t(occurred_at)}）符合触发条件，但当时规则未启用或尚不存在。"))
    else:
        out.append(Sentence("event_not_matching",
                            f"The last {trigger.event_type} was {event_id} at {_t(occurred_at)}; it does not match: "
                            f"{result.describe('en')}.",
                            f"最近一次 {trigger.event_type} 为 {event_id}（{_t(occurred_at)}），不符合触发条件：{result.describe('zh')}。"))
    return out


def _message_sentence(row: tuple[Any, ...]) -> Sentence:
    template, channel, status, attempts, next_at, error, sent_at, reason, _, error_zh = row
    if status == "sent":
        return Sentence("sent", f"Message '{template}' was sent on {channel} at {_t(sent_at)} "
                        f"(attempt {attempts}); the gateway accepted it.",
                        f"消息「{template}」已于 {_t(sent_at)} 通过 {channel} 发送（第{attempts}次尝试），网关已接收。")
    if status in ("queued", "sending"):
        if reason == "quiet_hours" and attempts == 0:
            return Sentence("deferred", f"Message '{template}' waits for the end of quiet hours: it goes out on "
                            f"{channel} at {_t(next_at)}.",
                            f"消息「{template}」等待免打扰时段结束，将于 {_t(next_at)} 通过 {channel} 发送。")
        extra_en = f" after {attempts} failed attempt(s), last error: {error}" if attempts else ""
        extra_zh = f"（已失败{attempts}次，最近错误：{error}）" if attempts else ""
        return Sentence("queued", f"Message '{template}' is queued on {channel}; next attempt at {_t(next_at)}{extra_en}.",
                        f"消息「{template}」在 {channel} 队列中，下次尝试 {_t(next_at)}{extra_zh}。")
    if status == "failed":
        return Sentence("failed", f"Message '{template}' on {channel} failed after {attempts} attempt(s): {error}.",
                        f"消息「{template}」（{channel}）发送失败（{attempts}次）：{error_zh}。")
    return Sentence("suppressed", f"Message '{template}' was not sent: {error}.",
                    f"消息「{template}」未发送：{error_zh}。")


def _headline(status: str, decisions: list[dict[str, Any]], messages: list[tuple[Any, ...]],
              tasks: list[tuple[Any, ...]], timer: tuple[Any, ...] | None) -> Sentence:
    sent = [m for m in messages if m[2] == "sent"]
    if sent:
        m = sent[-1]
        return Sentence("received", f"Yes: the patient received '{m[0]}' on {m[1]} at {_t(m[6])}.",
                        f"是：患者已于 {_t(m[6])} 通过 {m[1]} 收到「{m[0]}」。")
    by_outcome = {d["outcome"]: d for d in decisions}
    if status in ("condition_false", "held_out", "cooldown", "stale"):
        d = by_outcome.get({"stale": "too_old"}.get(status, status)) or decisions[-1]
        return Sentence(status, f"No: {d['reason_en'].split('; ', 1)[-1]}.", f"否：{d['reason_zh'].split('；', 1)[-1]}。")
    pending = [m for m in messages if m[2] in ("queued", "sending")]
    if pending:
        m = pending[-1]
        return Sentence("pending", f"Not yet: '{m[0]}' is queued on {m[1]} for {_t(m[4])}.",
                        f"尚未：「{m[0]}」已在 {m[1]} 队列中，计划 {_t(m[4])} 发送。")
    if status == "waiting" and timer is not None:
        return Sentence("waiting", f"Not yet: the journey is waiting; the timer is due at {_t(timer[0])}.",
                        f"尚未：旅程等待中，计时器将于 {_t(timer[0])} 到期。")
    refused = [m for m in messages if m[2] in ("suppressed", "failed")]
    if refused:
        m = refused[-1]
        code = {"suppressed": "suppressed", "failed": "failed"}[m[2]]
        return Sentence(code, f"No: '{m[0]}' was {m[2]}: {m[5]}.",
                        f"否：「{m[0]}」{'被拦截' if m[2] == 'suppressed' else '发送失败'}：{m[9]}。")
    if tasks:
        t = tasks[-1]
        return Sentence("task", f"Yes: a staff task ({t[0]}) was opened, due {_t(t[1])}, now {t[2]}.",
                        f"是：已创建员工任务（{t[0]}），截止 {_t(t[1])}，状态 {t[2]}。")
    if status == "stopped":
        d = by_outcome.get("stopped") or decisions[-1]
        return Sentence("stopped", f"No: {d['reason_en']}.", f"否：{d['reason_zh']}。")
    return Sentence(status, f"The journey is {status}.", f"旅程状态：{status}。")


def why(engine: Engine, golden_id: str, rule_key: str, catalogue: Catalogue, *, now: datetime | None = None,
        facts: FactsProvider | None = None) -> list[Sentence]:
    """Plain sentences (en + zh) on whether and why the patient did or did not get the rule's action."""
    try:
        rule = catalogue.get(rule_key)
    except KeyError as exc:
        raise ExplainError(str(exc.args[0])) from exc
    from molar.automation.clock import local_now

    now = now or local_now()
    facts = facts or WarehouseFacts()
    enabled, disabled_sentence = _rule_state(engine, rule)
    journeys = engine.rows(
        "SELECT occurrence, status, trigger_at, step FROM ops.journey WHERE rule_key = ? AND golden_id = ? "
        "ORDER BY trigger_at DESC, started_at DESC", [rule.key, golden_id])
    out: list[Sentence] = []
    if not journeys:
        out += _never_triggered(engine, rule, golden_id, facts, now)
        if disabled_sentence:
            out.insert(0, disabled_sentence)
        return out
    occurrence, status, trigger_at, _ = journeys[0]
    decisions = [
        {"outcome": o, "reason_en": en or "", "reason_zh": zh or "", "decided_at": at, "step": step}
        for o, en, zh, at, step in engine.rows(
            "SELECT outcome, reason_en, reason_zh, decided_at, step FROM ops.rule_decision WHERE rule_key = ? "
            "AND golden_id = ? AND occurrence = ? ORDER BY seq", [rule.key, golden_id, occurrence])
    ]
    messages = engine.rows(
        "SELECT template, channel, status, attempts, next_attempt_at, last_error, sent_at, reason_code, message_id "
        "FROM ops.outbox WHERE rule_key = ? AND golden_id = ? AND occurrence = ? ORDER BY created_at, step",
        [rule.key, golden_id, occurrence])
    # the Chinese reason of each refused message (the outbox keeps the English one)
    zh_reasons = dict(engine.rows(
        "SELECT message_id, arg_max(reason_zh, seq) FROM ops.rule_decision WHERE rule_key = ? AND golden_id = ? "
        "AND occurrence = ? AND message_id IS NOT NULL AND outcome IN ('suppressed', 'failed') GROUP BY 1",
        [rule.key, golden_id, occurrence]))
    messages = [(*m, (zh_reasons.get(m[8]) or m[5] or "").removeprefix("发送时检查：")) for m in messages]
    tasks = engine.rows("SELECT kind, due_at, status FROM ops.task WHERE rule_key = ? AND golden_id = ? AND occurrence = ? "
                        "ORDER BY created_at", [rule.key, golden_id, occurrence])
    timer = engine.rows("SELECT due_at, wake_on FROM ops.timer WHERE rule_key = ? AND golden_id = ? AND occurrence = ? "
                        "AND state = 'pending' ORDER BY due_at LIMIT 1", [rule.key, golden_id, occurrence])
    out.append(_headline(status, decisions, messages, tasks, timer[0] if timer else None))
    if len(journeys) > 1:
        out.append(Sentence("occurrences", f"The rule triggered {len(journeys)} times for this patient; the latest "
                            f"on {_t(trigger_at)} is explained below.",
                            f"该规则对该患者共触发 {len(journeys)} 次；以下说明最近一次（{_t(trigger_at)}）。"))
    if disabled_sentence:
        out.append(disabled_sentence)
    for d in decisions:
        out.append(Sentence(d["outcome"], f"{_t(d['decided_at'])} — {d['reason_en']}",
                            f"{_t(d['decided_at'])} — {d['reason_zh']}"))
    for m in messages:
        out.append(_message_sentence(m))
    for kind, due, task_status in tasks:
        out.append(Sentence("task", f"Staff task {kind}: due {_t(due)}, {task_status}.",
                            f"员工任务 {kind}：截止 {_t(due)}，状态 {task_status}。"))
    if timer:
        due, wake_on = timer[0]
        out.append(Sentence("waiting", f"Waiting: the next step runs at {_t(due)}"
                            + (" or as soon as the patient replies." if wake_on else "."),
                            f"等待中：下一步将于 {_t(due)} 执行" + ("，患者回复则提前。" if wake_on else "。")))
    if not enabled and status in ("running", "waiting"):
        out.append(Sentence("will_stop", "Because the rule is disabled, this journey stops at its next step.",
                            "由于规则已停用，该旅程将在下一步停止。"))
    return out


def render_why(sentences: list[Sentence], lang: str = "en") -> str:
    return "\n".join(("• " if i else "") + s.text(lang) for i, s in enumerate(sentences))
