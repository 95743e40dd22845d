"""Reporters: one format per module, each ``render(report) -> str``; ``write_all`` puts them on disk."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.model import write_text_atomic
from pipeline.redact import redact_registered
from pipeline.reporters import html, json_report, junit_report, markdown, sarif
from pipeline.verdict import VerdictReport, cannot_be_ready

REPORTS: dict[str, Callable[[VerdictReport], str]] = {
    "readiness.json": json_report.render,
    "readiness.html": html.render,
    "readiness.junit.xml": junit_report.render,
    "readiness.md": markdown.render,
    "readiness.sarif": sarif.render,
}


@dataclass(frozen=True)
class Written:
    """What ``write_reports`` did: the verdict as written, the files, and the reports that failed."""

    report: VerdictReport
    paths: tuple[Path, ...]
    failed: dict[str, str] = field(default_factory=dict)


def write_reports(report: VerdictReport, reports_dir: Path) -> Written:
    """Render and write every report; a report that cannot be rendered or written never stops the others.

    When one fails, its file is removed (an older one must not pass for this verdict), the
    verdict cannot be ``ready`` (it becomes ``incomplete`` with the reason) and the other
    reports are rendered again so that they all say the same.
    """
    failed: dict[str, str] = {}
    while True:
        known = len(failed)
        texts = _render_each(report, failed)
        paths = _write_each(texts, reports_dir, failed)
        if len(failed) == known:
            break
        report = cannot_be_ready(report, *(
            f"The report {name} could not be written ({why}); a verdict without every report cannot be ready."
            for name, why in list(failed.items())[known:]))
    for name in failed:
        with contextlib.suppress(OSError):
            (reports_dir / name).unlink(missing_ok=True)
    return Written(report, paths, failed)


def write_all(report: VerdictReport, reports_dir: Path) -> list[Path]:
    """Every report that could be written (see ``write_reports``, which also says what failed)."""
    return list(write_reports(report, reports_dir).paths)


def _render_each(report: VerdictReport, failed: dict[str, str]) -> dict[str, str]:
    texts = {}
    for name, render in REPORTS.items():
        if name in failed:
            continue
        try:
            # Every foreign string was masked as it was rendered; the whole page gets the registered secrets.
            texts[name] = redact_registered(render(report))
        except Exception as exc:  # a defect in one format must not cost the others
            failed[name] = f"{type(exc).__name__}: {exc}"
    return texts


def _write_each(texts: dict[str, str], reports_dir: Path, failed: dict[str, str]) -> tuple[Path, ...]:
    written = []
    for name, text in texts.items():
        try:
            write_text_atomic(reports_dir / name, text)
        except OSError as exc:
            failed[name] = f"{type(exc).__name__}: {exc}"
            continue
        written.append(reports_dir / name)
    return tuple(written)
