"""Journey steps that act on the patient: send a message (checked against the contact policy),
set a tag, issue a coupon. Part of :class:`molar.automation.runtime.Automation`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from molar.automation.catalogue import Coupon, Rule, Send, SetTag
from molar.automation.conditions import MISSING, resolve
from molar.automation.guards import check_send
from molar.automation.journey import Journey, short_hash
from molar.automation.render import render
from molar.delivery.outbox import enqueue
from molar.model.events import Event
from molar.warehouse import Engine


class JourneySteps:
    """Methods of the automation engine; state lives on the engine."""

    def _reply(self, engine: Engine, j: Journey, now: datetime) -> dict[str, Any]:
        since = j.wait_started_at or j.trigger_at
        rows = engine.rows(
            "SELECT status, received_at, data FROM ops.followup_reply WHERE golden_id = ? AND received_at >= ? "
            "AND received_at <= ? AND (rule_key IS NULL OR rule_key = ?) AND (occurrence IS NULL OR occurrence = ?) "
            "ORDER BY received_at DESC LIMIT 1",
            [j.golden_id, since, now, j.rule_key, j.occurrence],
        )
        if not rows:
            return {}
        status, received_at, data = rows[0]
        return {**json.loads(data or "{}"), "status": status, "received_at": received_at}

    def _send(self, engine: Engine, rule: Rule, j: Journey, step: Send, now: datetime, facts: dict[str, Any]) -> None:
        key = j.key(step.path)
        reply = self._reply(engine, j, now)
        result = check_send(engine, self.policy, facts, channel=step.channel, purpose=step.purpose, now=now,
                            is_reply=bool(reply))
        lang = facts.get("language") or self.policy.language
        template = self.catalogue.templates[step.template]
        values: dict[str, Any] = {**facts, "event": j.context.get("event", {}), "coupon": j.context.get("coupon", {}),
                                  "reply": reply}
        for name, value in step.variables:
            if isinstance(value, dict):
                found = resolve(values, value["fact"])
                values[name] = None if found is MISSING else found
            else:
                values[name] = value
        text, missing = render(template, lang, values, self.policy.template_fallbacks)
        payload = {"template": step.template, "rule": rule.key, "rule_version": rule.version,
                   "variables": {n: values.get(n) for n in sorted(template.variables) if n in values},
                   "missing_variables": missing}
        if result.ok:
            channel = result.channel or step.channel
            message_id, _ = enqueue(engine, idempotency_key=key, golden_id=j.golden_id, channel=channel,
                                    purpose=step.purpose, text=text, now=now, send_at=result.send_at,
                                    template=step.template, language=lang, payload=payload, rule_key=rule.key,
                                    occurrence=j.occurrence, step=step.path, reason_code=result.code)
            if result.outcome == "defer":
                self._decide(engine, j, now, "send", "deferred", step.path, code=result.code, en=result.en,
                             zh=result.zh, message_id=message_id,
                             detail={**result.detail, "channel": channel, "template": step.template})
            else:
                self._decide(engine, j, now, "send", "queued", step.path, code="queued",
                             en=f"{step.purpose} message '{step.template}' queued on {channel} at {now:%Y-%m-%d %H:%M}",
                             zh=f"{step.template} 消息已进入 {channel} 发送队列（{now:%Y-%m-%d %H:%M}）",
                             message_id=message_id, detail={**result.detail, "channel": channel,
                                                            "template": step.template})
            return
        channel = result.channel or (step.channel if step.channel != "best" else "none")
        message_id, _ = enqueue(engine, idempotency_key=key, golden_id=j.golden_id, channel=channel,
                                purpose=step.purpose, text=text, now=now, template=step.template, language=lang,
                                payload=payload, rule_key=rule.key, occurrence=j.occurrence, step=step.path,
                                status="suppressed", reason_code=result.code, last_error=result.en)
        self._decide(engine, j, now, "send", "suppressed", step.path, code=result.code, en=result.en, zh=result.zh,
                     message_id=message_id, detail={**result.detail, "channel": channel, "template": step.template})

    def _set_tag(self, engine: Engine, j: Journey, step: SetTag, now: datetime, facts: dict[str, Any]) -> list[Event]:
        old = facts.get("tags", {}).get(step.tag)
        value = step.value
        num = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else \
            (1.0 if value is True else 0.0 if value is False else None)
        engine.execute(
            "INSERT INTO ops.automation_tag VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (golden_id, tag_key) DO UPDATE SET "
            "value = excluded.value, value_num = excluded.value_num, set_at = excluded.set_at, rule_key = excluded.rule_key",
            [j.golden_id, step.tag, str(value), num, now, j.rule_key],
        )
        facts.setdefault("tags", {})[step.tag] = num if num is not None else str(value)
        self._decide(engine, j, now, "set_tag", "tag_set", step.path, code="tag_set",
                     en=f"tag {step.tag} set to {value} (was {old if old is not None else 'unset'})",
                     zh=f"标签 {step.tag} 设为 {value}（原为 {old if old is not None else '未设置'}）",
                     detail={"tag": step.tag, "old": old, "new": value})
        if old is not None and str(old) == str(value):
            return []
        return [Event(event_id="tag:" + short_hash(j.key(step.path)), type="tag.changed", golden_id=j.golden_id,
                      occurred_at=now, data={"tag_key": step.tag, "old": old, "new": value}, source="automation")]

    def _coupon(self, engine: Engine, j: Journey, step: Coupon, now: datetime, facts: dict[str, Any]) -> None:
        basis = None
        if step.value_yuan is not None:
            value = step.value_yuan
        else:
            basis = resolve(facts, step.by or "")
            value = step.default_yuan
            if basis is not MISSING:
                mapped = dict(step.value_map)
                if str(basis) in mapped:
                    value = mapped[str(basis)]
                else:
                    try:
                        number = float(basis)  # type: ignore[arg-type]
                        value = next((v for at_least, v in step.bands if number >= at_least), step.default_yuan)
                    except (TypeError, ValueError):
                        pass
        code = "C" + short_hash(j.key(step.path), 12).upper()
        expires = now + step.expires_in
        engine.execute("INSERT INTO ops.coupon VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'issued') ON CONFLICT DO NOTHING",
                       [code, j.golden_id, j.rule_key, j.occurrence, step.coupon_kind, value, now, expires])
        j.context["coupon"] = {"code": code, "value_yuan": value, "expires_on": expires.date().isoformat(),
                               "kind": step.coupon_kind}
        self._save_journey(engine, j, now)
        why_en = f" ({step.by} = {'unknown' if basis is MISSING else basis})" if step.by else ""
        self._decide(engine, j, now, "coupon", "coupon_issued", step.path, code="coupon_issued",
                     en=f"coupon {code} worth ¥{value:g} issued{why_en}, valid until {expires:%Y-%m-%d}",
                     zh=f"发放优惠券 {code}，面值 {value:g} 元，有效期至 {expires:%Y-%m-%d}",
                     detail={"coupon_id": code, "value_yuan": value, "basis": None if basis is MISSING else basis})
