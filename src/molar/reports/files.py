"""Write a built monthly report to a file: self-contained HTML, or PDF printed by chromium.

Shared by `molar report monthly` and the scheduled run in `molar serve`, so both write
the same file for the same report.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from molar.reports.monthly import Report

LANGS = {"zh": "zh-CN", "zh-CN": "zh-CN", "en": "en"}
FORMATS = (".pdf", ".html")


def has_data(report: Report) -> bool:
    return bool(report.current.visits or report.current.charges)


def write_report(report: Report, out: Path, *, lang: str, clinic_names: dict[str, str], made: date) -> None:
    """Write ``report`` to ``out`` (.pdf or .html) in ``lang`` (zh or en). The file appears
    whole or not at all: it is written beside ``out`` and renamed into place."""
    from molar.reports.pdf import print_pdf
    from molar.web.i18n import Locale
    from molar.web.report import header, standalone

    loc = Locale(LANGS[lang])
    html = standalone(report, loc, clinic_names, made=made)
    partial = out.with_name(f".{out.stem}.partial{out.suffix}")
    try:
        if out.suffix.lower() == ".pdf":
            print_pdf(html, partial, header=header(report, loc))
        else:
            partial.write_text(html, encoding="utf-8")
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
