"""The rule catalogue: rules/journeys and message templates as versioned YAML.

Files in ``automation/rules/`` (or the ``rules_dir`` setting) hold either one rule
(a mapping with ``key:``), several (``rules: [...]``) or templates (``templates:``).
Everything is validated on load; an error names the file, the line and the fix.
The format is documented in docs/automation.md.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path
from typing import Any

from molar.automation.conditions import (
    Check,
    Condition,
    Group,
    checks_of,
    describe,
    parse_condition,
)
from molar.automation.durations import DurationError, format_duration, parse_duration
from molar.automation.yamlio import CatalogueError, check_keys, fail, line_of, load_yaml, suggest
from molar.model.events import EVENT_TYPES, PERSONAL_DATA_FIELDS

RULES_DIR = Path(__file__).with_name("rules")

PURPOSES: tuple[str, ...] = ("care", "marketing")
CHANNELS: tuple[str, ...] = ("sms", "wechat", "app")
SEND_CHANNELS: tuple[str, ...] = (*CHANNELS, "best")
TRIGGER_KINDS: tuple[str, ...] = ("event", "tag_change", "segment", "lifecycle", "threshold", "schedule")
STEP_KINDS: tuple[str, ...] = ("wait", "send", "branch", "task", "set_tag", "coupon")
ROLES: tuple[str, ...] = ("nurse", "health_advisor", "customer_service", "front_desk", "doctor",
                          "clinic_manager")
# Staff task kinds with their default titles and the role that gets them.
TASK_KINDS: dict[str, tuple[str, str, str]] = {
    "nurse_follow_up": ("护士回访", "Nurse follow-up call", "nurse"),
    "vip_advisor": ("VIP健康顾问跟进", "VIP health advisor follow-up", "health_advisor"),
    "service_recovery": ("服务补救：联系投诉患者", "Service recovery: contact the patient about the complaint",
                         "customer_service"),
    "recall_call": ("电话召回", "Recall phone call", "front_desk"),
    "doctor_review": ("医生复核", "Doctor review", "doctor"),
    "plan_follow_up": ("未接受治疗方案跟进：联系患者", "Unaccepted treatment plan: contact the patient", "doctor"),
}
# First segment of a fact path that conditions may use.
FACT_ROOTS: tuple[str, ...] = ("golden_id", "tags", "tier", "stage", "value_score", "reachable",
                               "complaint", "clinic", "language", "preferred_channel", "event")
BRANCH_ROOTS: tuple[str, ...] = (*FACT_ROOTS, "reply", "coupon")
TEMPLATE_ROOTS: tuple[str, ...] = (*BRANCH_ROOTS,)
_VARIABLE = re.compile(r"\{([A-Za-z_][\w.]*)\}")
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


# --------------------------------------------------------------------------- model

@dataclass(frozen=True)
class Trigger:
    kind: str
    event_type: str | None          # the event type it listens to (None: schedule)
    filter: Condition | None = None  # on the event's data
    # threshold
    field: str | None = None
    op: str | None = None
    value: float | None = None
    days: int = 1
    day_field: str = "measured_on"
    # schedule
    daily_at: time | None = None
    audience: Condition | None = None
    line: int | None = None

    def describe(self, lang: str = "en") -> str:
        if self.kind == "schedule":
            at = self.daily_at.strftime("%H:%M") if self.daily_at else "?"
            who = describe(self.audience, lang) or ("every patient" if lang == "en" else "所有患者")
            return f"every day at {at} for patients where {who}" if lang == "en" else f"每天{at}，对象：{who}"
        if self.kind == "threshold":
            if lang == "en":
                return (f"{self.event_type} {self.field} {self.op} {self.value:g} on "
                        f"{self.days} consecutive days")
            return f"{self.event_type} 的 {self.field} {self.op} {self.value:g} 连续 {self.days} 天"
        cond = describe(self.filter, lang)
        if lang == "en":
            return f"{self.event_type}" + (f" where {cond}" if cond else "")
        return f"{self.event_type}" + (f"，且 {cond}" if cond else "")


@dataclass(frozen=True)
class Step:
    path: str
    line: int | None
    next: str | None  # path of the step that follows, None: the journey ends

    kind = "step"


@dataclass(frozen=True)
class Wait(Step):
    duration: timedelta | None = None        # from the journey's anchor
    after_trigger: timedelta | None = None   # from the trigger time
    until_reply: bool = False                # a followup.reply ends the wait early
    kind = "wait"

    def describe(self, lang: str = "en") -> str:
        span = format_duration(self.after_trigger or self.duration or timedelta(), lang)
        if lang == "en":
            text = f"wait until {span} after the trigger" if self.after_trigger else f"wait {span}"
            return text + (" or until the patient replies" if self.until_reply else "")
        text = f"等到触发后{span}" if self.after_trigger else f"等待{span}"
        return text + ("（患者回复则提前）" if self.until_reply else "")


@dataclass(frozen=True)
class Send(Step):
    channel: str = "best"
    template: str = ""
    purpose: str = "care"
    variables: tuple[tuple[str, Any], ...] = ()  # name -> literal or {"fact": path}
    kind = "send"


@dataclass(frozen=True)
class Task(Step):
    task_kind: str = ""
    due: timedelta = timedelta(hours=24)
    role: str = ""
    title_zh: str = ""
    title_en: str = ""
    kind = "task"


@dataclass(frozen=True)
class SetTag(Step):
    tag: str = ""
    value: Any = None
    kind = "set_tag"


@dataclass(frozen=True)
class Coupon(Step):
    value_yuan: float | None = None       # fixed value
    by: str | None = None                 # fact path for a personalised value
    value_map: tuple[tuple[str, float], ...] = ()
    bands: tuple[tuple[float, float], ...] = ()  # (at least, value), highest first
    default_yuan: float = 0.0
    expires_in: timedelta = timedelta(days=30)
    coupon_kind: str = "general"
    kind = "coupon"


@dataclass(frozen=True)
class Branch(Step):
    condition: Condition | None = None
    then_path: str | None = None
    else_path: str | None = None
    kind = "branch"


@dataclass(frozen=True)
class Rule:
    key: str
    name_zh: str
    name_en: str
    description: str
    purpose: str
    enabled: bool
    holdout_percent: float
    trigger: Trigger
    conditions: Condition | None
    steps: dict[str, Step]
    first: str | None
    version: str
    path: Path
    line: int | None
    cooldown: timedelta | None = None

    def step(self, path: str | None) -> Step | None:
        return self.steps.get(path) if path is not None else None

    def name(self, lang: str = "en") -> str:
        return self.name_zh if lang == "zh" else self.name_en


@dataclass(frozen=True)
class Template:
    key: str
    zh: str
    en: str
    path: Path
    line: int | None

    @property
    def variables(self) -> set[str]:
        return set(_VARIABLE.findall(self.zh)) | set(_VARIABLE.findall(self.en))

    def text(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass
class Catalogue:
    rules: dict[str, Rule]
    templates: dict[str, Template]
    directory: Path | None = None
    _by_event: dict[str, list[Rule]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for rule in self.rules.values():
            if rule.trigger.event_type:
                self._by_event.setdefault(rule.trigger.event_type, []).append(rule)

    def rules_for_event(self, event_type: str) -> list[Rule]:
        return self._by_event.get(event_type, [])

    @property
    def listened_event_types(self) -> set[str]:
        return set(self._by_event)

    def get(self, key: str) -> Rule:
        try:
            return self.rules[key]
        except KeyError:
            raise KeyError(
                f"no rule {key!r}{suggest(key, list(self.rules))}; rules: {', '.join(sorted(self.rules))}"
            ) from None

    def schedule_rules(self) -> list[Rule]:
        return [r for r in self.rules.values() if r.trigger.kind == "schedule"]


# --------------------------------------------------------------------------- parsing

def _text(path: Path, node: Any, key: str, line: int | None, required: bool = True) -> str:
    value = node.get(key) if isinstance(node, dict) else None
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise fail(path, line_of(node, key, line), f"{key!r} is required (text)")
        return ""
    return str(value).strip()


def _duration(path: Path, value: Any, line: int | None, what: str) -> timedelta:
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise fail(path, line, f"{what}: {exc}") from exc


def _key(path: Path, value: Any, line: int | None, what: str) -> str:
    text = str(value)
    if not _KEY.match(text):
        raise fail(path, line, f"{what} {text!r} must be lower-case letters, digits and _ (e.g. implant_follow_up)")
    return text


def _choices(path: Path, value: Any, line: int | None, what: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    values = tuple(str(v) for v in (value if isinstance(value, list) else [value]))
    for v in values:
        if allowed and v not in allowed:
            raise fail(path, line, f"{what} {v!r}{suggest(v, allowed)} is not one of: {', '.join(allowed)}")
    return values


def _parse_time(path: Path, value: Any, line: int | None, what: str) -> time:
    if isinstance(value, int) and not isinstance(value, bool):  # YAML 1.1 reads 10:00 as 600
        value = f"{value // 60:02d}:{value % 60:02d}"
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", str(value).strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise fail(path, line, f"{what} {value!r} is not a time of day; write \"HH:MM\", e.g. \"10:00\"")
    return time(int(m.group(1)), int(m.group(2)))


def _event_check(field_name: str, op: str, value: Any, line: int | None) -> Check:
    return Check(field_name, op, tuple(value) if isinstance(value, list | tuple) else value, line)


def _parse_trigger(path: Path, node: Any, line: int | None) -> Trigger:
    line = line_of(node, default=line)
    if not isinstance(node, dict) or len(node) != 1:
        raise fail(path, line, f"trigger: give exactly one of {', '.join(TRIGGER_KINDS)}, "
                   "e.g. trigger: {event: {type: visit.completed}}")
    kind = str(next(iter(node)))
    spec = node[kind]
    kline = line_of(node, kind, line)
    if kind not in TRIGGER_KINDS:
        raise fail(path, kline, f"unknown trigger {kind!r}{suggest(kind, TRIGGER_KINDS)}; "
                   f"triggers: {', '.join(TRIGGER_KINDS)}")
    sline = line_of(spec, default=kline)
    if kind == "event":
        check_keys(path, spec, {"type", "where"}, "trigger event", required=("type",), line=kline)
        etype = str(spec["type"])
        if etype not in EVENT_TYPES:
            raise fail(path, line_of(spec, "type", sline), f"unknown event type {etype!r}"
                       f"{suggest(etype, list(EVENT_TYPES))}; types: {', '.join(EVENT_TYPES)}")
        where = parse_condition(path, spec["where"], None, line_of(spec, "where", sline), "field") \
            if spec.get("where") else None
        return Trigger("event", etype, where, line=kline)
    if kind == "tag_change":
        check_keys(path, spec, {"tag", "to", "from"}, "trigger tag_change", required=("tag",), line=kline)
        checks: list[Condition] = [_event_check("tag_key", "==", str(spec["tag"]), sline)]
        if "to" in spec:
            checks.append(_event_check("new", "in", [str(v) for v in _as_list(spec["to"])], sline))
        if "from" in spec:
            checks.append(_event_check("old", "in", [str(v) for v in _as_list(spec["from"])], sline))
        return Trigger("tag_change", "tag.changed", Group("all", tuple(checks), sline), line=kline)
    if kind == "segment":
        check_keys(path, spec, {"name", "on"}, "trigger segment", required=("name",), line=kline)
        on = str(spec.get("on", "enter"))
        if on not in ("enter", "exit"):
            raise fail(path, line_of(spec, "on", sline), f"segment on: {on!r}; write enter or exit")
        etype = "segment.entered" if on == "enter" else "segment.exited"
        return Trigger("segment", etype, _event_check("segment", "==", str(spec["name"]), sline), line=kline)
    if kind == "lifecycle":
        check_keys(path, spec, {"to_stage", "from_stage"}, "trigger lifecycle", required=("to_stage",), line=kline)
        stages = ("acquisition", "growth", "mature", "decline", "churn")
        checks = [_event_check("to_stage", "in", list(_choices(path, spec["to_stage"], sline, "to_stage", stages)), sline)]
        if "from_stage" in spec:
            checks.append(_event_check("from_stage", "in", list(
                _choices(path, spec["from_stage"], sline, "from_stage", stages)), sline))
        return Trigger("lifecycle", "lifecycle.changed", Group("all", tuple(checks), sline), line=kline)
    if kind == "threshold":
        check_keys(path, spec, {"event", "field", "op", "value", "days", "day_field"}, "trigger threshold",
                   required=("field", "op", "value", "days"), line=kline)
        etype = str(spec.get("event", "telemetry.daily"))
        if etype not in EVENT_TYPES:
            raise fail(path, line_of(spec, "event", sline), f"unknown event type {etype!r}{suggest(etype, list(EVENT_TYPES))}")
        op = str(spec["op"])
        if op not in (">", ">=", "<", "<="):
            raise fail(path, line_of(spec, "op", sline), f"threshold op {op!r}: use one of > >= < <= (quoted)")
        try:
            value = float(spec["value"])
            days = int(spec["days"])
        except (TypeError, ValueError) as exc:
            raise fail(path, line_of(spec, "value", sline), "threshold value must be a number and days a whole number") from exc
        if days < 1:
            raise fail(path, line_of(spec, "days", sline), "threshold days must be 1 or more")
        return Trigger("threshold", etype, None, field=str(spec["field"]), op=op, value=value, days=days,
                       day_field=str(spec.get("day_field", "measured_on")), line=kline)
    # schedule
    check_keys(path, spec, {"daily_at", "audience"}, "trigger schedule", required=("daily_at",), line=kline)
    at = _parse_time(path, spec["daily_at"], line_of(spec, "daily_at", sline), "daily_at")
    audience = parse_condition(path, spec["audience"], FACT_ROOTS[:-1], line_of(spec, "audience", sline)) \
        if spec.get("audience") else None
    return Trigger("schedule", None, None, daily_at=at, audience=audience, line=kline)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


class _StepParser:
    def __init__(self, path: Path, rule_key: str, purpose: str) -> None:
        self.path = path
        self.rule_key = rule_key
        self.purpose = purpose
        self.steps: dict[str, Step] = {}
        self.sends: list[Send] = []

    def parse_list(self, nodes: Any, prefix: str, after: str | None, line: int | None) -> str | None:
        """Parse a list of steps; returns the path of its first step (or ``after`` if empty)."""
        if nodes is None:
            return after
        if not isinstance(nodes, list):
            raise fail(self.path, line, "steps must be a list (each step starts with '- ')")
        paths = [f"{prefix}{i}" for i in range(len(nodes))]
        for i, node in enumerate(nodes):
            following = paths[i + 1] if i + 1 < len(nodes) else after
            self.parse_step(node, paths[i], following, line)
        return paths[0] if paths else after

    def parse_step(self, node: Any, path: str, following: str | None, line: int | None) -> None:
        p = self.path
        line = line_of(node, default=line)
        if not isinstance(node, dict) or len(node) != 1:
            raise fail(p, line, f"a step is one of {', '.join(STEP_KINDS)}, e.g. `- wait: 7d`; got {node!r}")
        kind = str(next(iter(node)))
        spec = node[kind]
        if kind not in STEP_KINDS:
            raise fail(p, line, f"unknown step {kind!r}{suggest(kind, STEP_KINDS)}; steps: {', '.join(STEP_KINDS)}")
        sline = line_of(spec, default=line)
        if kind == "wait":
            if isinstance(spec, dict):
                check_keys(p, spec, {"for", "after_trigger", "until_reply"}, "wait", line=sline)
                if ("for" in spec) == ("after_trigger" in spec):
                    raise fail(p, sline, "wait: give exactly one of `for: 1d` or `after_trigger: 7d`")
                until = spec.get("until_reply", False)
                if not isinstance(until, bool):
                    raise fail(p, line_of(spec, "until_reply", sline), "until_reply: true or false")
                step: Step = Wait(path, sline, following,
                                  duration=_duration(p, spec["for"], sline, "wait for") if "for" in spec else None,
                                  after_trigger=_duration(p, spec["after_trigger"], sline, "wait after_trigger")
                                  if "after_trigger" in spec else None,
                                  until_reply=until)
            else:
                step = Wait(path, sline, following, duration=_duration(p, spec, sline, "wait"))
        elif kind == "send":
            check_keys(p, spec, {"channel", "template", "vars", "purpose"}, "send", required=("template",), line=sline)
            channel = _choices(p, spec.get("channel", "best"), line_of(spec, "channel", sline), "channel", SEND_CHANNELS)[0]
            purpose = _choices(p, spec.get("purpose", self.purpose), line_of(spec, "purpose", sline), "purpose", PURPOSES)[0]
            variables = spec.get("vars") or {}
            if not isinstance(variables, dict):
                raise fail(p, line_of(spec, "vars", sline), "vars: a mapping of name: value (or name: {fact: path})")
            parsed_vars = []
            for name, value in variables.items():
                vline = line_of(variables, str(name), sline)
                if isinstance(value, dict):
                    check_keys(p, value, {"fact"}, f"vars {name}", required=("fact",), line=vline)
                    root = str(value["fact"]).split(".")[0]
                    if root not in TEMPLATE_ROOTS:
                        raise fail(p, vline, f"vars {name}: unknown fact {value['fact']!r}{suggest(root, TEMPLATE_ROOTS)}")
                    if _personal(str(value["fact"])):
                        raise fail(p, vline, f"vars {name}: {value['fact']!r} can carry personal data and is never "
                                   "kept for rules; use a field without it")
                    value = {"fact": str(value["fact"])}
                parsed_vars.append((_key(p, name, vline, "variable"), value))
            step = Send(path, sline, following, channel=channel, template=str(spec["template"]),
                        purpose=purpose, variables=tuple(parsed_vars))
            self.sends.append(step)  # type: ignore[arg-type]
        elif kind == "task":
            check_keys(p, spec, {"kind", "due", "role", "title"}, "task", required=("kind", "due"), line=sline)
            task_kind = str(spec["kind"])
            if task_kind not in TASK_KINDS:
                raise fail(p, line_of(spec, "kind", sline), f"task kind {task_kind!r}{suggest(task_kind, list(TASK_KINDS))} "
                           f"is not one of: {', '.join(TASK_KINDS)}")
            title_zh, title_en, role = TASK_KINDS[task_kind]
            role = _choices(p, spec.get("role", role), line_of(spec, "role", sline), "role", ROLES)[0]
            title = spec.get("title")
            if title is not None:
                check_keys(p, title, {"zh", "en"}, "task title", required=("zh", "en"), line=line_of(spec, "title", sline))
                title_zh, title_en = str(title["zh"]), str(title["en"])
            step = Task(path, sline, following, task_kind=task_kind,
                        due=_duration(p, spec["due"], line_of(spec, "due", sline), "task due"),
                        role=role, title_zh=title_zh, title_en=title_en)
        elif kind == "set_tag":
            check_keys(p, spec, {"tag", "value"}, "set_tag", required=("tag", "value"), line=sline)
            step = SetTag(path, sline, following, tag=_key(p, spec["tag"], sline, "tag"), value=spec["value"])
        elif kind == "coupon":
            step = self._coupon(spec, path, following, sline)
        else:  # branch
            check_keys(p, spec, {"if", "then", "else"}, "branch", required=("if",), line=sline)
            condition = parse_condition(p, spec["if"], BRANCH_ROOTS, line_of(spec, "if", sline))
            then_path = self.parse_list(spec.get("then"), f"{path}.then.", following, line_of(spec, "then", sline))
            else_path = self.parse_list(spec.get("else"), f"{path}.else.", following, line_of(spec, "else", sline))
            step = Branch(path, sline, following, condition=condition, then_path=then_path, else_path=else_path)
        self.steps[path] = step

    def _coupon(self, spec: Any, path: str, following: str | None, sline: int | None) -> Coupon:
        p = self.path
        check_keys(p, spec, {"value_yuan", "expires_in", "kind"}, "coupon", required=("value_yuan", "expires_in"), line=sline)
        value = spec["value_yuan"]
        vline = line_of(spec, "value_yuan", sline)
        expires = _duration(p, spec["expires_in"], line_of(spec, "expires_in", sline), "coupon expires_in")
        kind = str(spec.get("kind", "general"))
        if isinstance(value, int | float) and not isinstance(value, bool):
            if value <= 0:
                raise fail(p, vline, "coupon value_yuan must be above 0")
            return Coupon(path, sline, following, value_yuan=float(value), expires_in=expires, coupon_kind=kind)
        if not isinstance(value, dict):
            raise fail(p, vline, "coupon value_yuan: a number, or {by: fact, map: {...}|bands: [[at_least, yuan], ...], default: yuan}")
        check_keys(p, value, {"by", "map", "bands", "default"}, "coupon value_yuan", required=("by", "default"), line=vline)
        by = str(value["by"])
        if by.split(".")[0] not in FACT_ROOTS:
            raise fail(p, vline, f"coupon value_yuan by: unknown fact {by!r}; facts start with: {', '.join(FACT_ROOTS)}")
        try:
            mapping = tuple((str(k), float(v)) for k, v in (value.get("map") or {}).items())
            bands = tuple(sorted(((float(a), float(v)) for a, v in (value.get("bands") or [])), reverse=True))
            default = float(value["default"])
        except (TypeError, ValueError) as exc:
            raise fail(p, vline, "coupon value_yuan: map values, bands [[at_least, yuan], …] and default must be numbers") from exc
        if not mapping and not bands:
            raise fail(p, vline, "coupon value_yuan: give map: {value: yuan} or bands: [[at_least, yuan], …]")
        return Coupon(path, sline, following, by=by, value_map=mapping, bands=bands, default_yuan=default,
                      expires_in=expires, coupon_kind=kind)


_RULE_KEYS = {"key", "name", "description", "purpose", "enabled", "holdout_percent", "trigger",
              "conditions", "steps", "cooldown"}


def _version(node: Any) -> str:
    canonical = json.dumps(node, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def parse_rule(path: Path, node: Any) -> tuple[Rule, list[Send]]:
    line = line_of(node)
    check_keys(path, node, _RULE_KEYS, "rule", required=("key", "name", "purpose", "trigger", "steps"), line=line)
    key = _key(path, node["key"], line_of(node, "key", line), "rule key")
    name = node["name"]
    nline = line_of(node, "name", line)
    check_keys(path, name, {"zh", "en"}, f"rule {key}: name", required=("zh", "en"), line=nline)
    purpose = _choices(path, node["purpose"], line_of(node, "purpose", line), "purpose", PURPOSES)[0]
    enabled = node.get("enabled", True)
    if not isinstance(enabled, bool):
        raise fail(path, line_of(node, "enabled", line), "enabled: true or false")
    holdout = node.get("holdout_percent", 0)
    if isinstance(holdout, bool) or not isinstance(holdout, int | float) or not 0 <= holdout <= 100:
        raise fail(path, line_of(node, "holdout_percent", line),
                   f"holdout_percent {holdout!r} must be a number from 0 to 100 (share of patients kept out as a control group)")
    trigger = _parse_trigger(path, node["trigger"], line_of(node, "trigger", line))
    conditions = parse_condition(path, node["conditions"], FACT_ROOTS, line_of(node, "conditions", line)) \
        if node.get("conditions") else None
    if conditions is not None and trigger.kind == "schedule":
        for check in checks_of(conditions):
            if check.fact.startswith("event."):
                raise fail(path, check.line, "a schedule rule has no trigger event; conditions cannot use event.*")
    cooldown = _duration(path, node["cooldown"], line_of(node, "cooldown", line), "cooldown") \
        if node.get("cooldown") else None
    parser = _StepParser(path, key, purpose)
    steps_node = node["steps"]
    if not isinstance(steps_node, list) or not steps_node:
        raise fail(path, line_of(node, "steps", line), "steps: give at least one step")
    first = parser.parse_list(steps_node, "", None, line_of(node, "steps", line))
    rule = Rule(
        key=key, name_zh=str(name["zh"]), name_en=str(name["en"]),
        description=_text(path, node, "description", line, required=False),
        purpose=purpose, enabled=enabled, holdout_percent=float(holdout), trigger=trigger,
        conditions=conditions, steps=parser.steps, first=first, version=_version(node), path=path,
        line=line, cooldown=cooldown,
    )
    return rule, parser.sends


def _parse_templates(path: Path, node: Any) -> dict[str, Template]:
    templates = node["templates"]
    tline = line_of(node, "templates")
    if not isinstance(templates, dict) or not templates:
        raise fail(path, tline, "templates: a mapping of template key to {zh: …, en: …}")
    out = {}
    for key, spec in templates.items():
        kline = line_of(templates, str(key), tline)
        key = _key(path, key, kline, "template key")
        check_keys(path, spec, {"zh", "en"}, f"template {key}", required=("zh", "en"), line=kline)
        out[key] = Template(key, str(spec["zh"]), str(spec["en"]), path, kline)
    return out


def _personal(path: str) -> bool:
    """An event data field that can carry personal data (rules never see it: see ``impersonal``)."""
    parts = path.split(".")
    return parts[0] == "event" and len(parts) > 1 and parts[1] in PERSONAL_DATA_FIELDS


def _check_send(path: Path, rule: Rule, send: Send, templates: dict[str, Template]) -> None:
    template = templates.get(send.template)
    if template is None:
        raise fail(path, send.line, f"rule {rule.key}: unknown template {send.template!r}"
                   f"{suggest(send.template, list(templates))}; add it to a templates file "
                   f"(templates: {send.template}: {{zh: …, en: …}})")
    declared = {name for name, _ in send.variables}
    coupon_before = any(s.kind == "coupon" for s in rule.steps.values())
    for variable in sorted(template.variables):
        root = variable.split(".")[0]
        if variable in declared:
            continue
        if _personal(variable):
            raise fail(path, send.line, f"rule {rule.key}: template {template.key} quotes {{{variable}}}, which can "
                       "carry personal data (the outbox keeps the text); remove it from the template")
        if root not in TEMPLATE_ROOTS:
            raise fail(path, send.line, f"rule {rule.key}: template {template.key} uses {{{variable}}}, which is "
                       f"neither in this step's vars nor a fact ({', '.join(TEMPLATE_ROOTS)}); add it under vars:")
        if root == "coupon" and not coupon_before:
            raise fail(path, send.line, f"rule {rule.key}: template {template.key} uses {{{variable}}} but the rule "
                       "issues no coupon; add a coupon step before this send")


def load_catalogue(directory: Path | None = None) -> Catalogue:
    """Load and validate every rule and template file in ``directory`` (default: shipped rules)."""
    directory = Path(directory or RULES_DIR)
    if not directory.is_dir():
        raise CatalogueError(f"{directory}: no such folder of rule files")
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not files:
        raise CatalogueError(f"{directory}: no rule files (*.yaml) found")
    rules: dict[str, Rule] = {}
    templates: dict[str, Template] = {}
    pending: list[tuple[Path, Rule, list[Send]]] = []
    for path in files:
        doc = load_yaml(path)
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise fail(path, None, "a rule file holds a rule (key: …), a list (rules: [...]) or templates: {...}")
        if "templates" in doc:
            check_keys(path, doc, {"templates"}, "templates file", line=line_of(doc))
            for key, template in _parse_templates(path, doc).items():
                if key in templates:
                    raise fail(path, template.line, f"template {key!r} is also defined in "
                               f"{templates[key].path}:{templates[key].line}; keep one")
                templates[key] = template
            continue
        if "rules" in doc:
            check_keys(path, doc, {"rules"}, "rules file", line=line_of(doc))
            nodes = doc["rules"]
            if not isinstance(nodes, list):
                raise fail(path, line_of(doc, "rules"), "rules: a list of rules (each starts with '- key: …')")
        else:
            nodes = [doc]
        for node in nodes:
            rule, sends = parse_rule(path, node)
            if rule.key in rules:
                other = rules[rule.key]
                raise fail(path, rule.line, f"rule key {rule.key!r} is also used in {other.path}:{other.line}; "
                           "rule keys must be unique")
            rules[rule.key] = rule
            pending.append((path, rule, sends))
    for path, rule, sends in pending:
        for send in sends:
            _check_send(path, rule, send, templates)
    return Catalogue(rules, templates, directory)
