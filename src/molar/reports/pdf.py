"""Print a standalone HTML report to PDF with Debian's chromium, driven by Playwright.

Playwright is the optional extra ``molar[pdf]`` and is imported only here, when a PDF is
asked for; its own browser download is never used. The page is printed once every chart
has drawn (``<body data-charts="ready">``); a page that never gets there fails loudly.
"""

from __future__ import annotations

import os
import shutil
from html import escape
from pathlib import Path

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDTH_PX = 720          # A4 minus the margins at 96 dpi: charts are drawn at the printed width
READY_MS = 60_000


class PrintError(RuntimeError):
    """The PDF cannot be printed here; the message says what to install or do instead."""


def chromium() -> Path:
    """Debian's chromium (``MOLAR_CHROMIUM`` names another build)."""
    named = os.environ.get("MOLAR_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    path = Path(named)
    if not path.is_file():
        raise PrintError(f"printing a PDF needs chromium, not found at {path}: install it (apt-get install "
                         "chromium fonts-wqy-microhei) or set MOLAR_CHROMIUM, or write --out report.html "
                         "/ 生成 PDF 需要 chromium")
    return path


def print_pdf(html: str, out: Path, *, header: str) -> None:
    """Write ``html`` as an A4 PDF with ``header`` and page numbers on every page."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as exc:
        raise PrintError("printing a PDF needs Playwright: pip install 'molar[pdf]' (chromium comes from the "
                         "system), or write --out report.html / 生成 PDF 需要安装 molar[pdf]") from exc
    browser_path = chromium()
    small = 'style="font-size:8px;width:100%;padding:0 12mm;color:#6b7785;font-family:sans-serif"'
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(browser_path), headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": WIDTH_PX, "height": 1000})
                page.route("**/*", lambda route: route.abort())   # nothing may leave the page
                page.set_content(html, wait_until="load")
                page.wait_for_selector("body[data-charts=ready]", timeout=READY_MS)
                pdf = page.pdf(format="A4", print_background=True, display_header_footer=True,
                               margin={"top": "16mm", "bottom": "14mm", "left": "12mm", "right": "12mm"},
                               header_template=f"<div {small}>{escape(header)}</div>",
                               footer_template=f'<div {small}><span class="pageNumber"></span> / '
                                               '<span class="totalPages"></span></div>')
            finally:
                browser.close()
    except Error as exc:
        raise PrintError(f"chromium could not print the report: {str(exc).splitlines()[0]} "
                         "/ 打印 PDF 失败") from exc
    out.write_bytes(pdf)
