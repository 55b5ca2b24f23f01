"""Waiting journeys: timers that fire (or a patient's reply that ends the wait early) and
daily schedule rules walked in batches. Part of :class:`molar.automation.runtime.Automation`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from molar.automation.catalogue import Wait
from molar.automation.conditions import evaluate, tag_requirement
from molar.model.events import Event
from molar.warehouse import Engine

SCHEDULE_BATCH = 2000
TIMER_BATCH = 200


class TimersAndSchedules:
    """Methods of the automation engine; state lives on the engine."""

    # ------------------------------------------------------------------ replies and timers

    def _wake_on_reply(self, engine: Engine, event: Event, data: dict[str, Any], now: datetime,
                       enabled: dict[str, bool]) -> list[Event]:
        sql = ("SELECT timer_id, rule_key, occurrence, step FROM ops.timer WHERE golden_id = ? AND state = 'pending' "
               "AND wake_on = 'followup.reply'")
        params: list[Any] = [event.golden_id]
        if data.get("rule"):
            sql += " AND rule_key = ?"
            params.append(str(data["rule"]))
        if data.get("occurrence"):
            sql += " AND occurrence = ?"
            params.append(str(data["occurrence"]))
        derived: list[Event] = []
        for timer_id, rule_key, occurrence, step in engine.rows(sql + " ORDER BY due_at", params):
            derived += self._continue(engine, timer_id, rule_key, event.golden_id, occurrence, step, now,
                                      enabled, woken_at=event.occurred_at)
        return derived

    def _continue(self, engine: Engine, timer_id: str, rule_key: str, golden_id: str, occurrence: str, path: str,
                  now: datetime, enabled: dict[str, bool], woken_at: datetime | None = None) -> list[Event]:
        """Mark the timer done and continue its journey after the wait (exactly once)."""
        state = "woken" if woken_at else "fired"
        claimed = engine.rows("UPDATE ops.timer SET state = ?, fired_at = ? WHERE timer_id = ? AND state = 'pending' "
                              "RETURNING due_at", [state, now, timer_id])
        if not claimed:
            return []
        j = self._load_journey(engine, rule_key, golden_id, occurrence)
        if j is None:
            return []
        rule = self.catalogue.rules.get(rule_key)
        step = rule.step(path) if rule else None
        if rule is None or not enabled.get(rule_key) or not isinstance(step, Wait):
            code, en, zh = (
                ("rule_removed", "stopped: the rule is no longer in the catalogue", "已停止：规则已从目录中移除")
                if rule is None else
                ("rule_disabled", "stopped: the rule was disabled while the journey waited", "已停止：等待期间规则被停用")
                if not enabled.get(rule_key) else
                ("rule_changed", "stopped: the rule was edited and this wait step no longer exists",
                 "已停止：规则已修改，该等待步骤不存在"))
            j.status = "stopped"
            self._save_journey(engine, j, now)
            self._decide(engine, j, now, "end", "stopped", path, code=code, en=en, zh=zh)
            return []
        due_at = claimed[0][0]
        j.anchor_at = min(woken_at, due_at) if woken_at else due_at
        self._decide(engine, j, now, "wait", "woken" if woken_at else "timer_fired", path,
                     code="reply" if woken_at else "timer",
                     en=(f"the patient replied at {woken_at:%Y-%m-%d %H:%M}; wait ended early" if woken_at
                         else f"timer due {due_at:%Y-%m-%d %H:%M} fired"),
                     zh=(f"患者于 {woken_at:%Y-%m-%d %H:%M} 回复，提前结束等待" if woken_at
                         else f"计时器（{due_at:%Y-%m-%d %H:%M}）到期"))
        j.status = "running"
        return self._advance(engine, rule, j, step.next, now)

    def fire_due_timers(self, engine: Engine, now: datetime, enabled: dict[str, bool] | None = None) -> tuple[int, list[Event]]:
        enabled = enabled if enabled is not None else self.enabled_rules(engine)
        due = engine.rows("SELECT timer_id, rule_key, golden_id, occurrence, step FROM ops.timer "
                          "WHERE state = 'pending' AND due_at <= ? ORDER BY due_at, timer_id LIMIT ?", [now, TIMER_BATCH])
        derived: list[Event] = []
        for timer_id, rule_key, golden_id, occurrence, step in due:
            with engine.transaction(), self._batch(engine):
                derived += self._continue(engine, timer_id, rule_key, golden_id, occurrence, step, now, enabled)
        return len(due), derived

    # ------------------------------------------------------------------ schedules

    def run_schedules(self, engine: Engine, now: datetime, enabled: dict[str, bool] | None = None,
                      batch: int = SCHEDULE_BATCH) -> tuple[int, list[Event]]:
        """Daily schedule rules: at or after their time, walk the patients in batches (only
        those carrying a tag the audience needs, see ``conditions.tag_requirement``)."""
        enabled = enabled if enabled is not None else self.enabled_rules(engine)
        started = 0
        derived: list[Event] = []
        for rule in self.catalogue.schedule_rules():
            at = rule.trigger.daily_at
            if not enabled.get(rule.key) or at is None or now.time() < at or (rule.key, now.date()) in self._schedule_done:
                continue
            with engine.transaction(), self._batch(engine):
                run = engine.rows("SELECT cursor, status FROM ops.schedule_run WHERE rule_key = ? AND run_date = ?",
                                  [rule.key, now.date()])
                if run and run[0][1] == "done":
                    self._schedule_done.add((rule.key, now.date()))
                    continue
                cursor = run[0][0] if run else ""
                if not run:
                    engine.execute("INSERT INTO ops.schedule_run VALUES (?, ?, '', 'running', ?, NULL)",
                                   [rule.key, now.date(), now])
                # An audience that needs a tag walks only the patients carrying it (when the
                # facts come from the warehouse; other providers hold tags the tables do not).
                need = tag_requirement(rule.trigger.audience)
                narrow = getattr(self.facts, "with_tags", None) if need else None
                ids = narrow(engine, need, cursor, batch) if narrow else [
                    g for (g,) in engine.rows("SELECT golden_id FROM identity.patient WHERE golden_id > ? "
                                              "ORDER BY golden_id LIMIT ?", [cursor, batch])]
                facts = self.facts.many(engine, ids, now) if ids else {}
                for g in ids:
                    if evaluate(rule.trigger.audience, facts[g]).ok:
                        started += 1
                        derived += self.start(engine, rule, g, f"day:{now.date().isoformat()}", now, facts=facts[g])
                done = len(ids) < batch
                engine.execute("UPDATE ops.schedule_run SET cursor = ?, status = ?, finished_at = ? "
                               "WHERE rule_key = ? AND run_date = ?",
                               [ids[-1] if ids else cursor, "done" if done else "running", now if done else None,
                                rule.key, now.date()])
        return started, derived
