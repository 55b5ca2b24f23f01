"""The console's languages: message catalogues (``messages/<lang>.yaml``) and number, money,
percent and date formats per locale (Babel). zh-CN is the default; ``?lang=en`` switches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from babel.dates import format_date, format_skeleton
from babel.numbers import format_currency, format_decimal, format_percent

LANGUAGES = {"zh-CN": "zh_CN", "en": "en"}   # catalogue name -> Babel locale
DEFAULT = "zh-CN"
MESSAGES = Path(__file__).with_name("messages")


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@cache
def catalogue(lang: str) -> dict[str, Any]:
    """Every message of one language by dotted key (``dashboard.visits``)."""
    return _flatten(yaml.safe_load((MESSAGES / f"{lang}.yaml").read_text(encoding="utf-8")))


def pick(requested: str | None) -> str:
    return requested if requested in LANGUAGES else DEFAULT


@dataclass(frozen=True)
class Locale:
    lang: str

    @property
    def babel(self) -> str:
        return LANGUAGES[self.lang]

    def t(self, key: str, **values: Any) -> Any:
        """The message for ``key``; a code without a label (a new channel) shows as itself."""
        text = catalogue(self.lang).get(key)
        if text is None:
            return key.rsplit(".", 1)[-1]
        return text.format(**values) if values and isinstance(text, str) else text

    def number(self, value: float | int | None, digits: int = 0) -> str:
        if value is None:
            return "–"
        return format_decimal(value, format=f"#,##0{'.' + '0' * digits if digits else ''}", locale=self.babel)

    def money(self, value: float | None) -> str:
        return "–" if value is None else format_currency(value, "CNY", format="¤#,##0", locale=self.babel,
                                                         currency_digits=False)

    def percent(self, value: float | None) -> str:
        return "–" if value is None else format_percent(value, format="#,##0.0%", locale=self.babel)

    def change(self, value: float | None, kind: str) -> str:
        """A change with its sign: relative (``+12.0%``), or for a rate in percentage points."""
        if value is None:
            return "–"
        if kind == "rate":
            points = format_decimal(100 * value, format="+#,##0.0;-#,##0.0", locale=self.babel)
            return self.t("report.points", value=points)
        return format_percent(value, format="+#,##0.0%;-#,##0.0%", locale=self.babel)

    def month(self, value: date) -> str:
        return format_skeleton("yMMMM", value, locale=self.babel)

    def date(self, value: date | None) -> str:
        return "" if value is None else format_date(value, "medium", locale=self.babel)
