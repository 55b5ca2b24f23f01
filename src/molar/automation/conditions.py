"""Conditions on patient facts and event data, and how they explain themselves.

A condition in a rule file is one of::

    {fact: tier, op: "==", value: strategic}
    {fact: tags.caries_risk, op: ">=", value: 0.6}
    {fact: event.items.item_code, op: contains, value: CLN}   # a list field: any element
    {all: [...]}   {any: [...]}   {not: {...}}

A list of conditions means all of them. Paths walk dictionaries; through a list of
dictionaries they collect the field of every element (``items.item_code`` → the item
codes of the visit). A missing value makes every comparison false except ``!=``,
``not_in`` and ``exists: false``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from molar.automation.yamlio import check_keys, fail, line_of, suggest

OPS: tuple[str, ...] = ("==", "!=", ">", ">=", "<", "<=", "in", "not_in", "exists", "contains")
_OP_WORDS = {
    "==": ("is", "等于"), "!=": ("is not", "不等于"), ">": ("is above", "大于"),
    ">=": ("is at least", "不低于"), "<": ("is below", "小于"), "<=": ("is at most", "不高于"),
    "in": ("is one of", "属于"), "not_in": ("is none of", "不属于"), "exists": ("is known", "存在"),
    "contains": ("contains", "包含"),
}
MISSING = object()


@dataclass(frozen=True)
class Check:
    """One comparison: fact op value."""

    fact: str
    op: str
    value: Any = True
    line: int | None = None


@dataclass(frozen=True)
class Group:
    """all / any / not of other conditions."""

    kind: str  # all | any | not
    items: tuple[Condition, ...]
    line: int | None = None


Condition = Check | Group


@dataclass(frozen=True)
class Outcome:
    """Result of evaluating a condition, with the check that decided it."""

    ok: bool
    check: Check | None = None
    actual: Any = None

    def describe(self, lang: str = "en") -> str:
        if self.check is None:
            return "no conditions" if lang == "en" else "无条件"
        return describe_check(self.check, self.actual, lang)


def parse_condition(path: Path, node: Any, roots: tuple[str, ...] | None, line: int | None = None,
                    field_key: str = "fact") -> Condition:
    """Parse one condition (or a list = all). ``roots`` limits the first path segment."""
    if isinstance(node, list):
        return Group("all", tuple(parse_condition(path, n, roots, line, field_key) for n in node), line)
    line = line_of(node, default=line)
    if not isinstance(node, dict):
        raise fail(path, line, f"a condition is a mapping like {{{field_key}: tier, op: \"==\", value: strategic}}; got {node!r}")
    for group in ("all", "any"):
        if group in node:
            check_keys(path, node, {group}, f"condition {group!r}", line=line)
            items = node[group]
            if not isinstance(items, list) or not items:
                raise fail(path, line, f"{group}: give a list of conditions")
            return Group(group, tuple(parse_condition(path, n, roots, line, field_key) for n in items), line)
    if "not" in node:
        check_keys(path, node, {"not"}, "condition 'not'", line=line)
        return Group("not", (parse_condition(path, node["not"], roots, line, field_key),), line)
    check_keys(path, node, {field_key, "op", "value"}, "condition", required=(field_key, "op"), line=line)
    fact = str(node[field_key])
    if roots is not None and fact.split(".")[0] not in roots:
        raise fail(path, line_of(node, field_key, line),
                   f"unknown {field_key} {fact!r}{suggest(fact.split('.')[0], roots)}; "
                   f"a {field_key} starts with one of: {', '.join(roots)}")
    op = str(node["op"])
    if op not in OPS:
        raise fail(path, line_of(node, "op", line),
                   f"unknown op {op!r}{suggest(op, OPS)}; ops: {', '.join(OPS)} (quote ops like \">=\")")
    if op == "exists":
        value = node.get("value", True)
        if not isinstance(value, bool):
            raise fail(path, line_of(node, "value", line), "op exists takes value: true or value: false")
    else:
        if "value" not in node:
            raise fail(path, line_of(node, default=line), f"op {op!r} needs a value")
        value = node["value"]
        if op in ("in", "not_in") and not isinstance(value, list):
            raise fail(path, line_of(node, "value", line), f"op {op!r} needs a list, e.g. value: [a, b]")
        if op in (">", ">=", "<", "<=") and not isinstance(value, int | float | str):
            raise fail(path, line_of(node, "value", line), f"op {op!r} compares with a number or text")
    if isinstance(value, list):
        value = tuple(value)
    return Check(fact, op, value, line)


def resolve(data: Mapping[str, Any], path: str) -> Any:
    """Walk ``a.b.c``; through lists of mappings collect the field of every element."""
    current: Any = data
    for part in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(part, MISSING)
        elif isinstance(current, list | tuple):
            current = [x.get(part, MISSING) if isinstance(x, Mapping) else MISSING for x in current]
            current = [x for x in current if x is not MISSING and x is not None]
        else:
            return MISSING
        if current is MISSING or current is None:
            return MISSING
    return current


def _num(x: Any) -> Any:
    if isinstance(x, bool):
        return x
    if isinstance(x, int | float):
        return float(x)
    if isinstance(x, str):
        try:
            return float(x)
        except ValueError:
            return x
    return x


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        flag, other = (a, b) if isinstance(a, bool) else (b, a)
        if isinstance(other, str):
            return other.lower() == str(flag).lower()
        if isinstance(other, int | float) and not isinstance(other, bool):
            return other == float(flag)  # boolean tags are published as 1.0 / 0.0
        return flag is other
    na, nb = _num(a), _num(b)
    if isinstance(na, float) and isinstance(nb, float):
        return na == nb
    return str(a) == str(b)


def compare(actual: Any, op: str, value: Any) -> bool:
    if op == "exists":
        return (actual is not MISSING and actual != []) is bool(value)
    if actual is MISSING:
        return op in ("!=", "not_in")
    if op == "contains":
        items = actual if isinstance(actual, list | tuple) else [actual]
        wanted = value if isinstance(value, tuple) else (value,)
        if isinstance(actual, str) and not isinstance(value, tuple):
            return str(value) in actual
        return any(_eq(i, w) for i in items for w in wanted)
    if isinstance(actual, list | tuple):  # a list compared like a scalar: any element
        return any(compare(a, op, value) for a in actual) if op not in ("!=", "not_in") else all(
            compare(a, op, value) for a in actual)
    if op == "==":
        return _eq(actual, value)
    if op == "!=":
        return not _eq(actual, value)
    if op == "in":
        return any(_eq(actual, v) for v in value)
    if op == "not_in":
        return not any(_eq(actual, v) for v in value)
    a, b = _num(actual), _num(value)
    if type(a) is not type(b):
        return False
    return {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]


def evaluate(condition: Condition | None, data: Mapping[str, Any]) -> Outcome:
    """True/false with the deciding check: the first failing one, or the last passing."""
    if condition is None:
        return Outcome(True)
    if isinstance(condition, Check):
        actual = resolve(data, condition.fact)
        return Outcome(compare(actual, condition.op, condition.value), condition, actual)
    if condition.kind == "not":
        inner = evaluate(condition.items[0], data)
        return Outcome(not inner.ok, inner.check, inner.actual)
    results = []
    for item in condition.items:
        result = evaluate(item, data)
        if condition.kind == "all" and not result.ok:
            return result
        if condition.kind == "any" and result.ok:
            return result
        results.append(result)
    if condition.kind == "all":
        return results[-1] if results else Outcome(True)
    return Outcome(False, results[0].check if results else None, results[0].actual if results else None)


def show_value(value: Any, lang: str = "en") -> str:
    if value is MISSING:
        return "unknown" if lang == "en" else "未知"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show_value(v, lang) for v in value) + "]"
    if isinstance(value, bool):
        return ("yes" if value else "no") if lang == "en" else ("是" if value else "否")
    return str(value)


def describe_check(check: Check, actual: Any = MISSING, lang: str = "en") -> str:
    """'tier is strategic (actual: growth)' / 'tier 等于 strategic（实际：growth）'."""
    en, zh = _OP_WORDS[check.op]
    if check.op == "exists":
        text = f"{check.fact} {'is known' if check.value else 'is not known'}" if lang == "en" else \
            f"{check.fact} {'存在' if check.value else '不存在'}"
    else:
        text = f"{check.fact} {en if lang == 'en' else zh} {show_value(check.value, lang)}"
    if lang == "en":
        return f"{text} (actual: {show_value(actual, lang)})"
    return f"{text}（实际：{show_value(actual, lang)}）"


def describe(condition: Condition | None, lang: str = "en", label: Callable[[str], str] | None = None) -> str:
    """A condition in words (for trigger and segment descriptions); ``label`` names a fact
    path in words (default: the path itself)."""
    if condition is None:
        return ""
    if isinstance(condition, Check):
        en, zh = _OP_WORDS[condition.op]
        fact = label(condition.fact) if label else condition.fact
        if condition.op == "exists":
            known = ("is known", "存在") if condition.value else ("is not known", "不存在")
            return f"{fact} {known[0] if lang == 'en' else known[1]}"
        return f"{fact} {en if lang == 'en' else zh} {show_value(condition.value, lang)}"
    joiner = {"all": (" and ", " 且 "), "any": (" or ", " 或 ")}
    if condition.kind == "not":
        return ("not " if lang == "en" else "非 ") + describe(condition.items[0], lang, label)
    sep = joiner[condition.kind][0 if lang == "en" else 1]
    return sep.join(describe(i, lang, label) for i in condition.items)


def checks_of(condition: Condition | None) -> Sequence[Check]:
    if condition is None:
        return ()
    if isinstance(condition, Check):
        return (condition,)
    return tuple(c for item in condition.items for c in checks_of(item))


def tag_requirement(condition: Condition | None) -> dict[str, bool] | None:
    """Tags one of which a patient must carry for ``condition`` to hold, as
    ``{tag_key: must_be_true}``; None when it can hold without any tag.

    A schedule reads facts only for the patients carrying one of them instead of walking
    everyone. A check on ``tags.X`` needs X unless a missing tag passes it (``!=``,
    ``not_in``, ``exists: false``); ``== true`` needs it true. ``all`` needs what any one
    item needs; ``any`` what every item needs; ``not`` nothing known."""
    if condition is None:
        return None
    if isinstance(condition, Check):
        root, _, key = condition.fact.partition(".")
        if root != "tags" or not key or "." in key or condition.op in ("!=", "not_in") or (
                condition.op == "exists" and not condition.value):
            return None
        return {key: condition.op == "==" and condition.value is True}
    if condition.kind == "all":
        return next((need for item in condition.items if (need := tag_requirement(item)) is not None), None)
    if condition.kind == "any":
        out: dict[str, bool] = {}
        for item in condition.items:
            need = tag_requirement(item)
            if need is None:
                return None
            for key, true in need.items():
                out[key] = out.get(key, True) and true   # a branch needing only presence weakens it
        return out
    return None
