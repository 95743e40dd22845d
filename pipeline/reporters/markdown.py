"""``readiness.md``: short enough for ``$GITHUB_STEP_SUMMARY`` and a PR comment.

Every foreign string (check names from files, summaries, finding ids, titles and
locations, the service name) renders as plain text: on one line, every ASCII
punctuation character backslash-escaped (no HTML, links, images, emphasis, code,
headings, lists or table breaks), and a zero-width joiner after ``@``, ``#``, ``:``
before ``//`` and in ``www.`` so that GitHub links no mention, issue, URL or address.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.reporters.safe import plain
from pipeline.verdict import VerdictReport
from pipeline.views import Table

ICONS = {"pass": "✅", "waived": "☑️", "fail": "❌", "error": "⚠️", "skipped": "⏭️", "missing": "❔",
         "not_applicable": "➖"}
MAX_FINDINGS = 10
MAX_CELL = 160
MAX_CHANGES = 25
MAX_TABLE_ROWS = 50
_ASCII_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_JOINER = "\u200d"
# Escaped forms of what GitHub turns into links after rendering: @user, #12, scheme://, www.
_AUTOLINKED = re.compile(r"(\\[@#])|(\\:)(?=\\/\\/)|(?<![A-Za-z0-9])(www)(?=\\\.)", re.IGNORECASE)


def render(report: VerdictReport) -> str:
    """A heading with the verdict, one table row per check, the first failing findings."""
    title = {"ready": "✅ READY", "not_ready": "❌ NOT READY", "incomplete": "⚠️ INCOMPLETE"}
    service = report.environment.get("service")
    heading = f"## Readiness: {title[report.verdict.value]}" + (f" · {text(service)}" if service else "")
    lines = [heading, ""]
    lines += ["| Check | Status | Summary | Duration |", "|---|---|---|---|"]
    for r in report.checks:
        lines.append(f"| {text(r.check)} | {ICONS[r.status.value]} {r.status.value} | "
                     f"{text(r.summary)} | {r.duration_s:.1f} s |")
    for name in report.missing:
        lines.append(f"| {text(name)} | {ICONS['missing']} missing | the check did not run | – |")
    failing = [(r.check, f) for r in report.checks for f in r.findings
               if f.failing and not f.waived_by]
    if failing:
        lines += ["", f"**Failing findings** ({len(failing)}):", ""]
        for check, f in failing[:MAX_FINDINGS]:
            where = f" at {text(f.location)}" if f.location else ""
            lines.append(f"- **{text(check)}** {text(f.title)} ({text(f.severity)}; {text(f.id)}){where}")
        if len(failing) > MAX_FINDINGS:
            lines.append(f"- … and {len(failing) - MAX_FINDINGS} more in readiness.html")
    lines += changes_table(report)
    lines += tables(report)
    lines += ["", f"Exit code {report.verdict.exit_code}. Full report: `readiness.html`.", ""]
    return "\n".join(lines)


def changes_table(report: VerdictReport) -> list[str]:
    """One table of what changed since the baseline: policy changes, findings new and fixed, numbers moved."""
    comparison = report.comparison or {}
    base = comparison.get("baseline") or {}
    if not base:
        return []
    if base.get("error"):
        return ["", f"**Since the baseline**: it cannot be used: {text(base['error'], 400)}"]
    rows = [(c["key"].split(".")[0], f"policy {c['key']} {c['kind']}"
             + ("" if not c["needs_approval"] else " (approved)" if c["approved_by"] else " (NOT approved)"),
             c["before"], c["after"]) for c in comparison.get("policy_changes", [])]
    deltas = comparison.get("deltas", [])
    # What a release manager must see first comes first: findings, then names, then the numbers that moved.
    rows += [(d["check"], f"new finding {f['id']}", "–", f["severity"]) for d in deltas for f in d["new"]]
    rows += [(d["check"], f"fixed finding {f['id']}", f["severity"], "–") for d in deltas for f in d["fixed"]]
    rows += [(d["check"], named_change(n), "–", "–") for d in deltas for n in d.get("named", [])]
    rows += [(d["check"], n["name"], n["baseline"], n["now"]) for d in deltas for n in d["numbers"]]
    lines = ["", f"**Since the baseline** ({text(base.get('verdict'))}, {text(base.get('generated_at'))}):", ""]
    if not rows:
        return [*lines, "No change in policy, findings or figures."]
    lines += ["| Check | Change | Baseline | Now |", "|---|---|---|---|"]
    lines += [f"| {text(c)} | {text(what)} | {text(was)} | {text(now)} |" for c, what, was, now in rows[:MAX_CHANGES]]
    if len(rows) > MAX_CHANGES:
        lines.append(f"| … | {len(rows) - MAX_CHANGES} more in readiness.html | | |")
    return lines


def named_change(named: dict[str, Any]) -> str:
    """Alert rules or dashboards a check saw, as they changed: ``alert rules added: X, removed: Y``."""
    added, removed = ", ".join(named["added"]) or "none", ", ".join(named["removed"]) or "none"
    said = f"{named['what']} added: {added}, removed: {removed}"
    required = named.get("removed_required") or []
    return said + (f" (required by the baseline's policy: {', '.join(required)})" if required else "")


def tables(report: VerdictReport) -> list[str]:
    """Every check's Table views (the SLO matrix, the role matrix) as Markdown tables."""
    lines: list[str] = []
    for r in report.checks:
        for view in r.views:
            if not isinstance(view, Table) or not view.columns:
                continue
            lines += ["", f"**{text(r.check)}: {text(view.title)}**", "",
                      "| " + " | ".join(text(c) for c in view.columns) + " |", "|" + "---|" * len(view.columns)]
            lines += ["| " + " | ".join(text(c) for c in row) + " |" for row in view.rows[:MAX_TABLE_ROWS]]
    return lines


def text(value: object, limit: int = MAX_CELL) -> str:
    """``value`` as Markdown that renders as exactly its (masked, one-line, shortened) text."""
    flat = " ".join(plain(value).split())
    if len(flat) > limit:
        flat = flat[:limit - 1] + "…"  # cut before escaping, so no escape is cut in half
    escaped = _ASCII_PUNCTUATION.sub(r"\\\1", flat)
    return _AUTOLINKED.sub(lambda m: "".join(g for g in m.groups() if g) + _JOINER, escaped)
