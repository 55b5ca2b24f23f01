"""Sending the outbox: each message is gated by the contact policy again at send time and
its outcome recorded as a decision. Part of :class:`molar.automation.runtime.Automation`."""

from __future__ import annotations

from datetime import datetime

from molar.automation.decisions import record_decision
from molar.automation.guards import GuardResult, check_dispatch
from molar.delivery.outbox import DispatchResult, GateDecision, OutboxMessage, dispatch
from molar.warehouse import Engine


class Dispatching:
    """Methods of the automation engine; state lives on the engine."""

    # ------------------------------------------------------------------ outbox

    def _gate(self, engine: Engine, message: OutboxMessage, now: datetime) -> GateDecision:
        if message.rule_key in self.catalogue.rules and not self._enabled_now.get(message.rule_key, True):
            result = GuardResult("suppress", message.channel, None, "rule_disabled",
                                 "the rule was disabled before the message went out", "发送前规则已被停用")
            self._gate_results[message.message_id] = result
            return GateDecision("suppress", None, result.code, result.en)
        facts = self.facts.many(engine, [message.golden_id], now)[message.golden_id]
        result = check_dispatch(engine, self.policy, facts, channel=message.channel, purpose=message.purpose, now=now)
        self._gate_results[message.message_id] = result
        if result.outcome == "suppress":
            return GateDecision("suppress", None, result.code, result.en)
        if result.outcome == "defer":
            return GateDecision("defer", result.send_at, result.code, result.en)
        return GateDecision("send")

    def _record_dispatch(self, engine: Engine, result: DispatchResult, now: datetime) -> None:
        m = result.message
        gate = self._gate_results.pop(m.message_id, None)
        if not m.rule_key:
            return
        texts = {
            "sent": (f"sent on {m.channel} at {now:%Y-%m-%d %H:%M} (attempt {result.attempts}); the gateway accepted it",
                     f"已于 {now:%Y-%m-%d %H:%M} 通过 {m.channel} 发送（第{result.attempts}次尝试），网关已接收"),
            "retry": (f"sending on {m.channel} failed (attempt {result.attempts}: {result.error}); retry at "
                      f"{result.next_attempt_at:%Y-%m-%d %H:%M:%S}" if result.next_attempt_at else "",
                      f"{m.channel} 发送失败（第{result.attempts}次：{result.error}），将于 "
                      f"{result.next_attempt_at:%Y-%m-%d %H:%M:%S} 重试" if result.next_attempt_at else ""),
            "failed": (f"delivery failed on {m.channel}: {result.error}", f"{m.channel} 发送失败：{result.error}"),
        }
        if result.outcome in ("suppressed", "deferred") and gate is not None:
            en, zh = f"at send time: {gate.en}", f"发送时检查：{gate.zh}"
        else:
            en, zh = texts.get(result.outcome, (result.error or result.outcome, result.error or result.outcome))
        record_decision(engine, now=now, rule_key=m.rule_key, golden_id=m.golden_id, occurrence=m.occurrence,
                        step=m.step, action="send", outcome=result.outcome, code=result.code or result.outcome,
                        en=en, zh=zh, message_id=m.message_id,
                        detail={"channel": m.channel, "attempts": result.attempts, "error": result.error})

    def dispatch(self, engine: Engine, now: datetime, enabled: dict[str, bool] | None = None) -> list[DispatchResult]:
        """Send what is due (messages of rules disabled since they were queued are suppressed)."""
        self._enabled_now = enabled if enabled is not None else self.enabled_rules(engine)
        return dispatch(engine, self.channels, now, policy=self.policy.dispatch, gate=self._gate,
                        record=self._record_dispatch, paused=self._paused_channels)
