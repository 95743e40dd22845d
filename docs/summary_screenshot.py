"""Regenerate docs/images/pr-summary.png: the step summary (readiness.md) as a PR shows it.

    PYTHONPATH=. python docs/summary_screenshot.py

A sample verdict (one vulnerable pin) goes through the gate's own Markdown reporter;
markdown-it-py renders it as GitHub-flavoured Markdown (tables, autolinks) and headless
Chromium (/usr/bin/chromium) takes the picture. The status icons need an emoji font
(Debian: apt install fonts-noto-color-emoji).
"""

from __future__ import annotations

import datetime as dt
import html
import sys
from pathlib import Path

from markdown_it import MarkdownIt

from pipeline.github.workflow_commands import annotation_lines
from pipeline.model import CheckResult, Finding, Status
from pipeline.reporters import markdown
from pipeline.verdict import VerdictReport, decide

OUT = Path(__file__).parent / "images" / "pr-summary.png"
CHROMIUM = "/usr/bin/chromium"
STYLE = """
body { font: 14px/1.5 -apple-system, "Segoe UI", "DejaVu Sans", sans-serif, "Noto Color Emoji"; color: #1f2328;
       background: #f6f8fa; margin: 0; padding: 16px; width: 860px; }
.box { background: #fff; border: 1px solid #d1d9e0; border-radius: 6px; padding: 8px 24px 16px; }
.title { font-weight: 600; color: #59636e; margin: 0 0 8px; font-size: 12px; }
h2 { border-bottom: 1px solid #d1d9e0; padding-bottom: .3em; font-size: 1.5em; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #d1d9e0; padding: 6px 13px; }
tr:nth-child(2n) { background: #f6f8fa; }
td:nth-child(2), td:nth-child(4) { white-space: nowrap; }
code { background: #eff1f3; border-radius: 6px; padding: .2em .4em; font-size: 85%; }
.annotation { margin-top: 12px; border-left: 4px solid #d1242f; background: #fff; padding: 8px 12px;
              border-radius: 0 6px 6px 0; font-size: 13px; }
.annotation b { color: #d1242f; }
"""


def sample() -> VerdictReport:
    """A plausible PR run: every check passes but audit, which found a vulnerable pin."""
    start = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)

    def result(name: str, status: Status, summary: str, seconds: float, *found: Finding) -> CheckResult:
        return CheckResult(name, status, summary, findings=found, started_at=start,
                           finished_at=start + dt.timedelta(seconds=seconds))

    pin = Finding("vulnerability:PYSEC-2024-60", "high", "requests 2.31.0: PYSEC-2024-60 (CVSS 8.1) fixed in 2.32.0",
                  location="requests==2.31.0", file="examples/orders-service/requirements.txt", line=7)
    checks = (result("coverage", Status.PASS, "Line coverage 94.1% >= 90%; 212 tests passed.", 41.2),
              result("openapi", Status.PASS, "The spec is valid; every operation documents 400/401/500 and an SLA.",
                     0.8),
              result("zap", Status.PASS, "ZAP baseline: no alert at or above medium (2 low, counted).", 73.5),
              result("audit", Status.FAIL, "1 vulnerable pin at or above high.", 2.1, pin),
              result("k6", Status.PASS, "p95 118 ms < 200 ms; error rate 0.00% < 0.1% on 5 endpoints.", 33.0),
              result("explain", Status.PASS, "4 queries within budget (slowest 3.2 ms of 50 ms).", 1.9),
              result("dashboards", Status.PASS, "/health, /ready, 6 metric families, 4 alert rules loaded.", 6.4))
    return decide(checks, mandatory=tuple(c.check for c in checks), environment={"service": "orders-service"})


def page(report: VerdictReport) -> str:
    """The summary as GitHub renders it, with the annotation the same run leaves on the pin."""
    body = MarkdownIt("gfm-like").render(markdown.render(report))
    note = annotation_lines(report.to_dict())[0]
    where, _, text = note.removeprefix("::error ").partition("::")
    file = dict(p.split("=", 1) for p in where.split(","))
    return (f"<!doctype html><meta charset=utf-8><style>{STYLE}</style>"
            f"<div class=box><p class=title>readiness summary</p>{body}</div>"
            f"<div class=annotation><b>Error</b> {html.escape(file['file'])}#L{html.escape(file['line'])}: "
            f"{html.escape(text)}</div>")


def main() -> int:
    """Write the PNG (full page, 860 px wide)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        tab = browser.new_page(viewport={"width": 892, "height": 400})
        tab.set_content(page(sample()))
        tab.screenshot(path=str(OUT), full_page=True)
        browser.close()
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
