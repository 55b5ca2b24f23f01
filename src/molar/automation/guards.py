"""The contact policy every action passes through: consent, caps, quiet hours, complaints.

One policy for the whole chain (``policy.yaml``), never per rule. A message is checked
when a journey decides to send it and again when the outbox dispatches it (consent can
be withdrawn, a complaint can arrive, in between). Staff tasks, tags and coupons are not
messages: no consent, no caps, no quiet hours.

Every check returns a :class:`GuardResult` whose reason reads in English and Chinese with
the numbers behind it ("marketing cap reached: 2 messages in the last 7 days on sms").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from molar.automation.catalogue import CHANNELS, PURPOSES, _parse_time
from molar.automation.durations import DurationError, format_duration, parse_duration
from molar.automation.yamlio import CatalogueError, check_keys, fail, line_of, load_yaml
from molar.delivery.outbox import DispatchPolicy
from molar.privacy.consent import consent_for
from molar.warehouse import Engine

POLICY_FILE = Path(__file__).with_name("policy.yaml")
CONSENT_DEFAULTS = ("reachable", "granted", "denied")
SENDABLE = ("queued", "sending", "sent")
CHANNEL_WORDS = {"sms": ("SMS", "短信"), "wechat": ("WeChat", "微信"), "app": ("app push", "App推送")}
PURPOSE_WORDS = {"care": ("care", "关怀"), "marketing": ("marketing", "营销"), "any": ("", "")}


@dataclass(frozen=True)
class Cap:
    name: str
    purpose: str  # care | marketing | any
    max: int
    window: timedelta
    exempt_replies: bool = False  # answers to a patient's own reply (follow-up journeys) pass


@dataclass(frozen=True)
class Policy:
    timezone: str = "Asia/Shanghai"
    language: str = "zh"
    channel_order: tuple[str, ...] = ("app", "wechat", "sms")
    consent_default: dict[str, str] = field(default_factory=lambda: {"care": "reachable", "marketing": "denied"})
    quiet_start: time | None = time(21, 0)
    quiet_end: time | None = time(8, 0)
    caps: tuple[Cap, ...] = (Cap("marketing_weekly", "marketing", 2, timedelta(days=7)),
                             Cap("daily", "any", 1, timedelta(days=1)))
    complaint_window: timedelta = timedelta(days=30)
    complaint_suppress: tuple[str, ...] = ("marketing",)
    complaint_resolved_by: str = "service_recovery"
    stale_after: timedelta | None = timedelta(days=7)
    dispatch: DispatchPolicy = field(default_factory=DispatchPolicy)
    template_fallbacks: dict[str, dict[str, str]] = field(default_factory=dict)
    path: Path | None = None

    # ---- quiet hours
    def in_quiet_hours(self, when: datetime) -> bool:
        if self.quiet_start is None or self.quiet_end is None or self.quiet_start == self.quiet_end:
            return False
        t = when.time()
        if self.quiet_start < self.quiet_end:
            return self.quiet_start <= t < self.quiet_end
        return t >= self.quiet_start or t < self.quiet_end

    def next_allowed(self, when: datetime) -> datetime:
        """``when`` itself, or the end of the quiet hours it falls in."""
        if not self.in_quiet_hours(when):
            return when
        assert self.quiet_end is not None
        day = when.date() if when.time() < self.quiet_end else when.date() + timedelta(days=1)
        return datetime.combine(day, self.quiet_end)

    def quiet_words(self) -> str:
        assert self.quiet_start and self.quiet_end
        return f"{self.quiet_start:%H:%M}–{self.quiet_end:%H:%M}"


def load_policy(path: Path | None = None) -> Policy:
    """Read and validate the contact policy (default: the shipped ``policy.yaml``)."""
    path = Path(path or POLICY_FILE)
    if not path.exists():
        raise CatalogueError(f"{path}: policy file not found")
    doc = load_yaml(path)
    allowed = {"timezone", "language", "channel_order", "consent", "quiet_hours", "caps", "complaint",
               "stale_after", "dispatch", "template_fallbacks"}
    check_keys(path, doc, allowed, "policy", line=1)

    def dur(node: Any, key: str, default: timedelta | None) -> timedelta | None:
        if not isinstance(node, dict) or node.get(key) is None:
            return default
        try:
            return parse_duration(node[key])
        except DurationError as exc:
            raise fail(path, line_of(node, key), f"{key}: {exc}") from exc

    policy = Policy(path=path)
    changes: dict[str, Any] = {}
    if "timezone" in doc:
        changes["timezone"] = str(doc["timezone"])
    if "language" in doc:
        if doc["language"] not in ("zh", "en"):
            raise fail(path, line_of(doc, "language"), "language: zh or en")
        changes["language"] = str(doc["language"])
    if "channel_order" in doc:
        order = doc["channel_order"]
        if not isinstance(order, list) or not order or any(c not in CHANNELS for c in order):
            raise fail(path, line_of(doc, "channel_order"), f"channel_order: a list of {', '.join(CHANNELS)}")
        changes["channel_order"] = tuple(order)
    if "consent" in doc:
        consent = doc["consent"]
        check_keys(path, consent, {"default"}, "consent", line=line_of(doc, "consent"))
        default = consent.get("default") or {}
        check_keys(path, default, set(PURPOSES), "consent default", required=PURPOSES, line=line_of(consent, "default"))
        for purpose, value in default.items():
            if value not in CONSENT_DEFAULTS:
                raise fail(path, line_of(default, purpose), f"consent default for {purpose}: {value!r}; "
                           f"write one of: {', '.join(CONSENT_DEFAULTS)}")
        changes["consent_default"] = {k: str(v) for k, v in default.items()}
    if "quiet_hours" in doc:
        quiet = doc["quiet_hours"]
        qline = line_of(doc, "quiet_hours")
        if quiet in (None, False):
            changes["quiet_start"] = changes["quiet_end"] = None
        else:
            check_keys(path, quiet, {"start", "end"}, "quiet_hours", required=("start", "end"), line=qline)
            changes["quiet_start"] = _parse_time(path, quiet["start"], line_of(quiet, "start", qline), "quiet_hours start")
            changes["quiet_end"] = _parse_time(path, quiet["end"], line_of(quiet, "end", qline), "quiet_hours end")
    if "caps" in doc:
        caps = []
        for node in doc["caps"] or []:
            cline = line_of(node, default=line_of(doc, "caps"))
            check_keys(path, node, {"name", "purpose", "max", "window", "exempt_replies"}, "cap",
                       required=("name", "purpose", "max", "window"), line=cline)
            if node["purpose"] not in (*PURPOSES, "any"):
                raise fail(path, cline, f"cap purpose {node['purpose']!r}: write care, marketing or any")
            if not isinstance(node["max"], int) or node["max"] < 0:
                raise fail(path, line_of(node, "max", cline), "cap max: a whole number (0 blocks every message)")
            window = dur(node, "window", None)
            assert window is not None
            exempt = node.get("exempt_replies", False)
            if not isinstance(exempt, bool):
                raise fail(path, line_of(node, "exempt_replies", cline), "cap exempt_replies: true or false")
            caps.append(Cap(str(node["name"]), str(node["purpose"]), int(node["max"]), window, exempt))
        changes["caps"] = tuple(caps)
    if "complaint" in doc:
        node = doc["complaint"]
        cline = line_of(doc, "complaint")
        check_keys(path, node, {"window", "suppress", "resolved_by_task"}, "complaint", line=cline)
        changes["complaint_window"] = dur(node, "window", policy.complaint_window)
        suppress = node.get("suppress", list(policy.complaint_suppress))
        if not isinstance(suppress, list) or any(p not in PURPOSES for p in suppress):
            raise fail(path, line_of(node, "suppress", cline), "complaint suppress: a list of purposes (care, marketing)")
        changes["complaint_suppress"] = tuple(suppress)
        changes["complaint_resolved_by"] = str(node.get("resolved_by_task", policy.complaint_resolved_by))
    if "stale_after" in doc:
        changes["stale_after"] = dur(doc, "stale_after", None)
    if "dispatch" in doc:
        node = doc["dispatch"]
        dline = line_of(doc, "dispatch")
        check_keys(path, node, {"max_attempts", "backoff", "backoff_max", "batch", "timeout", "lease", "budget"},
                   "dispatch", line=dline)
        base = DispatchPolicy()
        for key in ("max_attempts", "batch"):
            if key in node and (not isinstance(node[key], int) or node[key] < 1):
                raise fail(path, line_of(node, key, dline), f"dispatch {key}: a whole number, 1 or more")
        changes["dispatch"] = DispatchPolicy(
            max_attempts=int(node.get("max_attempts", base.max_attempts)),
            backoff=dur(node, "backoff", base.backoff) or base.backoff,
            backoff_max=dur(node, "backoff_max", base.backoff_max) or base.backoff_max,
            batch=int(node.get("batch", base.batch)),
            timeout=dur(node, "timeout", base.timeout) or base.timeout,
            lease=dur(node, "lease", base.lease) or base.lease,
            budget=dur(node, "budget", base.budget) or base.budget,
        )
    if "template_fallbacks" in doc:
        node = doc["template_fallbacks"] or {}
        fallbacks = {}
        for key, value in node.items():
            check_keys(path, value, {"zh", "en"}, f"template_fallbacks {key}", required=("zh", "en"),
                       line=line_of(node, str(key)))
            fallbacks[str(key)] = {"zh": str(value["zh"]), "en": str(value["en"])}
        changes["template_fallbacks"] = fallbacks
    from dataclasses import replace

    return replace(policy, **changes)


# --------------------------------------------------------------------------- results

@dataclass(frozen=True)
class GuardResult:
    outcome: str                 # send | defer | suppress
    channel: str | None = None
    send_at: datetime | None = None
    code: str | None = None
    en: str | None = None
    zh: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome in ("send", "defer")


def _suppress(code: str, en: str, zh: str, channel: str | None = None, **detail: Any) -> GuardResult:
    return GuardResult("suppress", channel, None, code, en, zh, detail)


def _ch(channel: str, lang: str) -> str:
    return CHANNEL_WORDS.get(channel, (channel, channel))[0 if lang == "en" else 1]


def _day(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else str(value)


# --------------------------------------------------------------------------- consent

def _consent_refusal(channel: str, purpose: str, info: dict[str, Any]) -> tuple[str, str, str]:
    if info.get("from") == "record":
        when = _day(info["updated_at"])
        return ("consent_withdrawn",
                f"no consent: the patient withdrew {purpose} messages on {_ch(channel, 'en')} on {when}",
                f"无授权：患者已于 {when} 撤回{_ch(channel, 'zh')}{PURPOSE_WORDS[purpose][1]}消息授权")
    if info.get("default") == "reachable":
        return ("no_consent", f"no consent for {purpose} messages on {_ch(channel, 'en')}",
                f"没有{_ch(channel, 'zh')}{PURPOSE_WORDS[purpose][1]}消息授权")
    return ("no_consent",
            f"no consent for {purpose} messages on {_ch(channel, 'en')}: {purpose} needs an explicit "
            "opt-in and the patient never gave one",
            f"没有{_ch(channel, 'zh')}{PURPOSE_WORDS[purpose][1]}消息授权：{PURPOSE_WORDS[purpose][1]}消息需患者明确同意，患者尚未同意")


# --------------------------------------------------------------------------- caps

def cap_counts(engine: Engine, cap: Cap, golden_id: str, channel: str, at: datetime,
               exclude_message_id: str | None = None) -> tuple[int, int]:
    """Messages (sent, sending or queued) of the cap's purpose on the channel within the
    window around ``at``: (at or before ``at``, after ``at``)."""
    (past, future), = engine.rows(
        "SELECT count(*) FILTER (WHERE t <= ?), count(*) FILTER (WHERE t > ?) FROM ("
        " SELECT coalesce(sent_at, next_attempt_at, created_at) AS t FROM ops.outbox"
        " WHERE golden_id = ? AND channel = ? AND status IN ('queued', 'sending', 'sent')"
        " AND (? = 'any' OR purpose = ?) AND message_id <> ?)"
        " WHERE t > ? AND t < ?",
        [at, at, golden_id, channel, cap.purpose, cap.purpose, exclude_message_id or "",
         at - cap.window, at + cap.window],
    )
    return int(past), int(future)


def _cap_refusal(cap: Cap, channel: str, past: int, future: int) -> GuardResult:
    span_en, span_zh = format_duration(cap.window), format_duration(cap.window, "zh")
    kind_en = f"{cap.purpose} " if cap.purpose != "any" else ""
    kind_zh = PURPOSE_WORDS[cap.purpose][1]
    code = f"cap_{cap.name}"
    total = past + future
    kind = kind_en.strip() or "message"
    noun = "message" if total == 1 else "messages"
    if future:
        en = (f"{kind} cap reached: {total} {noun} on {channel} within {span_en} of this one "
              f"({future} already scheduled later), limit {cap.max}")
    else:
        en = f"{kind} cap reached: {total} {noun} in the last {span_en} on {channel} (limit {cap.max})"
    zh = f"已达{kind_zh}频次上限：{span_zh}内{_ch(channel, 'zh')}已有{total}条消息（上限{cap.max}条）"
    return _suppress(code, en, zh, channel, cap=cap.name, count=total, limit=cap.max,
                     window=span_en, later=future)


# --------------------------------------------------------------------------- checks

def _complaint_refusal(policy: Policy, purpose: str, facts: dict[str, Any]) -> GuardResult | None:
    complaint = facts.get("complaint") or {}
    if purpose not in policy.complaint_suppress or not complaint.get("open"):
        return None
    last = _day(complaint.get("last_at"))
    days = format_duration(policy.complaint_window)
    return _suppress(
        "open_complaint",
        f"{purpose} suppressed: the patient has an open complaint (last on {last}, within {days}; "
        f"no resolved {policy.complaint_resolved_by.replace('_', '-')} task since)",
        f"患者有未处理的投诉（最近一次 {last}，之后没有已完成的服务补救任务），暂停{PURPOSE_WORDS[purpose][1]}消息",
        None, last_at=complaint.get("last_at"), window=days,
    )


def _candidates(policy: Policy, requested: str, facts: dict[str, Any]) -> list[str]:
    if requested != "best":
        return [requested]
    order = list(policy.channel_order)
    preferred = facts.get("preferred_channel")
    if preferred in order:
        order.remove(preferred)
        order.insert(0, preferred)
    return order


def check_send(engine: Engine, policy: Policy, facts: dict[str, Any], *, channel: str, purpose: str,
               now: datetime, exclude_message_id: str | None = None, apply_caps: bool = True,
               is_reply: bool = False) -> GuardResult:
    """May a message of ``purpose`` go to this patient on ``channel`` (or the best one)?

    Order: open complaint → reachable → consent → caps → quiet hours (defer, not drop).
    ``is_reply``: the message answers the patient's own follow-up reply (caps with
    ``exempt_replies`` let it pass).
    """
    golden_id = facts["golden_id"]
    refusal = _complaint_refusal(policy, purpose, facts)
    if refusal:
        return refusal
    send_at = policy.next_allowed(now)
    reachable = facts.get("reachable") or {}
    first_refusal: GuardResult | None = None
    tried = _candidates(policy, channel, facts)
    for candidate in tried:
        if not reachable.get(candidate):
            continue
        granted, info = consent_for(engine, policy, golden_id, candidate, purpose, True)
        if not granted:
            code, en, zh = _consent_refusal(candidate, purpose, info)
            first_refusal = first_refusal or _suppress(code, en, zh, candidate, consent=_plain(info))
            continue
        refused_by_cap = None
        if apply_caps:
            for cap in policy.caps:
                if cap.purpose not in ("any", purpose) or (is_reply and cap.exempt_replies):
                    continue
                past, future = cap_counts(engine, cap, golden_id, candidate, send_at, exclude_message_id)
                if past + future >= cap.max:
                    refused_by_cap = _cap_refusal(cap, candidate, past, future)
                    break
        if refused_by_cap:
            first_refusal = first_refusal or refused_by_cap
            continue
        if send_at > now:
            return GuardResult(
                "defer", candidate, send_at, "quiet_hours",
                f"deferred: {now:%H:%M} is within quiet hours {policy.quiet_words()}; sends at {_day(send_at)}",
                f"延后发送：{now:%H:%M} 处于免打扰时段 {policy.quiet_words()}，将于 {_day(send_at)} 发送",
                {"quiet_hours": policy.quiet_words(), "send_at": send_at},
            )
        return GuardResult("send", candidate, now, None, None, None, {"consent": _plain(info)})
    if first_refusal:
        return first_refusal
    names_en = ", ".join(_ch(c, "en") for c in tried)
    names_zh = "、".join(_ch(c, "zh") for c in tried)
    return _suppress("not_reachable", f"the patient cannot be reached on {names_en} (no address known)",
                     f"无法通过{names_zh}联系患者（没有联系方式）", None, channels=tried)


def check_dispatch(engine: Engine, policy: Policy, facts: dict[str, Any], *, channel: str, purpose: str,
                   now: datetime) -> GuardResult:
    """Checks again when the outbox is about to send: consent (withdrawn since?), open
    complaint, quiet hours. Caps were reserved when the message was queued."""
    refusal = _complaint_refusal(policy, purpose, facts)
    if refusal:
        return refusal
    granted, info = consent_for(engine, policy, facts["golden_id"], channel, purpose,
                                bool((facts.get("reachable") or {}).get(channel)))
    if not granted:
        code, en, zh = _consent_refusal(channel, purpose, info)
        return _suppress(code, en, zh, channel, consent=_plain(info), at="dispatch")
    send_at = policy.next_allowed(now)
    if send_at > now:
        return GuardResult("defer", channel, send_at, "quiet_hours",
                           f"deferred: {now:%H:%M} is within quiet hours {policy.quiet_words()}; sends at {_day(send_at)}",
                           f"延后发送：处于免打扰时段 {policy.quiet_words()}，将于 {_day(send_at)} 发送",
                           {"send_at": send_at})
    return GuardResult("send", channel, now)


def _plain(info: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in info.items()}
