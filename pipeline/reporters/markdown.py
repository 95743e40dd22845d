"""``readiness.md``: short enough for ``$GITHUB_STEP_SUMMARY`` and a PR comment."""

from __future__ import annotations

from pipeline.verdict import VerdictReport

ICONS = {"pass": "✅", "waived": "☑️", "fail": "❌", "error": "⚠️", "skipped": "⏭️", "missing": "❔"}
MAX_FINDINGS = 10


def render(report: VerdictReport) -> str:
    """A heading with the verdict, one table row per check, the first failing findings."""
    title = {"ready": "✅ READY", "not_ready": "❌ NOT READY", "incomplete": "⚠️ INCOMPLETE"}
    lines = [f"## Readiness: {title[report.verdict.value]}", ""]
    lines += ["| Check | Status | Summary | Duration |", "|---|---|---|---|"]
    for r in report.checks:
        lines.append(f"| {r.check} | {ICONS[r.status.value]} {r.status.value} | "
                     f"{_cell(r.summary)} | {r.duration_s:.1f} s |")
    for name in report.missing:
        lines.append(f"| {name} | {ICONS['missing']} missing | the check did not run | – |")
    failing = [(r.check, f) for r in report.checks for f in r.findings
               if f.failing and not f.waived_by]
    if failing:
        lines += ["", f"**Failing findings** ({len(failing)}):", ""]
        lines += [f"- `{check}` {_cell(f.title)} ({f.severity})" for check, f in failing[:MAX_FINDINGS]]
        if len(failing) > MAX_FINDINGS:
            lines.append(f"- … and {len(failing) - MAX_FINDINGS} more in readiness.html")
    lines += ["", f"Exit code {report.verdict.exit_code}. Full report: `readiness.html`.", ""]
    return "\n".join(lines)


def _cell(text: str) -> str:
    # Table cells: no pipes or newlines from tool output, and no HTML from it either.
    flat = " ".join(text.split()).replace("|", "\\|")
    flat = flat.replace("<", "&lt;").replace(">", "&gt;")
    return flat if len(flat) <= 160 else flat[:157] + "…"
