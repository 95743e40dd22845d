"""Reporters: one format per module, each ``render(report) -> str``; ``write_all`` puts them on disk."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline.model import write_text_atomic
from pipeline.redact import redact
from pipeline.reporters import html, json_report, junit_report, markdown, sarif
from pipeline.verdict import VerdictReport

REPORTS: dict[str, Callable[[VerdictReport], str]] = {
    "readiness.json": json_report.render,
    "readiness.html": html.render,
    "readiness.junit.xml": junit_report.render,
    "readiness.md": markdown.render,
    "readiness.sarif": sarif.render,
}


def write_all(report: VerdictReport, reports_dir: Path) -> list[Path]:
    """Render every report and write it atomically; secrets are redacted on the way out."""
    written = []
    for name, render in REPORTS.items():
        path = reports_dir / name
        write_text_atomic(path, redact(render(report)))
        written.append(path)
    return written
