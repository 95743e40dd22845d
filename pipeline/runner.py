"""Run checks: collect -> parse -> evaluate under a time budget, apply waivers, write the result.

A check that raises or runs out of time becomes ``error`` with the reason; the
checks after it still run. Ctrl-C is forwarded to the running tool, the result so
far is written, then the interrupt goes on up so the CLI can stop.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from pipeline import proc
from pipeline.checks import registry
from pipeline.checks.interface import CheckContext, Evaluation
from pipeline.config import Config
from pipeline.errors import CheckError
from pipeline.model import (
    CheckResult,
    Finding,
    Status,
    ToolInfo,
    Waiver,
    now_utc,
    write_json_atomic,
)
from pipeline.redact import redact_tree
from pipeline.target import CHECKS_NEEDING_TARGET

# How long an interrupted tool gets to write its last output (k6 writes its summary then).
INTERRUPT_GRACE_S = 30.0
# Tools enforce the budget themselves (with a clear message); the runner's own watchdog
# is the backstop for a check stuck in Python code, so it waits a little longer.
WATCHDOG_GRACE_S = 10.0


def run_check(name: str, config: Config, reports_dir: Path, project_dir: Path,
              console: IO[str] | None = None, today: dt.date | None = None,
              target_error: str | None = None) -> CheckResult:
    """Run one check and write ``results/<name>.json``; never raises for a check's own failure.

    ``target_error`` says why the service under test could not be started: a check that
    talks to the service then records ``error`` with that reason instead of probing nothing.
    """
    started = now_utc()
    ctx = CheckContext(
        reports_dir=reports_dir,
        project_dir=project_dir,
        deadline_s=config.timeout_s(name),
        console=console,
        today=today or dt.date.today(),
        profile=config.profile,
    )
    interrupted = False
    if not config.enabled(name):
        evaluation = Evaluation(
            Status.SKIPPED,
            f"Disabled in {config.path} (checks.{name}.enabled: false).",
            ("A skipped mandatory check makes the verdict incomplete; enable it to gate on it.",),
        )
    elif target_error is not None and name in CHECKS_NEEDING_TARGET:
        evaluation = Evaluation(
            Status.ERROR,
            "The service under test could not be started, so this check could not run.",
            (target_error, "The target's logs are in the evidence folder (evidence/target/)."),
        )
    elif name not in registry.CHECKS:
        evaluation = Evaluation(
            Status.ERROR,
            f"This version of the gate has no '{name}' check yet.",
            (f"Set checks.{name}.enabled: false to acknowledge it, or upgrade the gate.",),
        )
    else:
        evaluation, interrupted = _run_with_budget(name, config.check_settings(name), ctx)
    result = CheckResult(
        check=name,
        status=evaluation.status,
        summary=evaluation.summary,
        reasons=evaluation.reasons,
        measurements=evaluation.measurements,
        findings=evaluation.findings,
        evidence=tuple(_relative(p, reports_dir) for p in ctx.evidence),
        tool=ctx.tool or ToolInfo("none", mode="none"),
        started_at=started,
        finished_at=now_utc(),
        details=evaluation.details,
    )
    result = apply_waivers(result, config.waivers, ctx.today)
    write_result(result, reports_dir)
    if interrupted:
        raise KeyboardInterrupt
    return result


def _run_with_budget(
    name: str, settings: dict[str, Any], ctx: CheckContext
) -> tuple[Evaluation, bool]:
    """The check's evaluation and whether the user interrupted it."""
    check = registry.CHECKS[name]()
    outcome: list[Evaluation] = []
    finished = threading.Event()

    def attempt() -> None:
        try:
            outcome.append(_attempt(check, settings, ctx))
        finally:
            finished.set()

    # A worker thread lets the gate give up on a check that hangs in Python code (a
    # socket without timeout, say); the tools it started are killed with it. An Event,
    # not Thread.join: a join interrupted by Ctrl-C can wrongly report the thread done.
    worker = threading.Thread(target=attempt, name=f"check-{name}", daemon=True)
    worker.start()
    try:
        finished.wait(ctx.deadline_s + WATCHDOG_GRACE_S)
    except KeyboardInterrupt:
        proc.interrupt_all_running()
        finished.wait(INTERRUPT_GRACE_S)
        proc.kill_all_running()
        interrupted = "The run was interrupted (Ctrl-C) before the check finished."
        if not outcome:
            return Evaluation(Status.ERROR, interrupted), True
        # Whatever the tool wrote before it stopped is judged, but can never pass.
        status = outcome[0].status if outcome[0].status is Status.FAIL else Status.ERROR
        return replace(outcome[0], status=status, reasons=(*outcome[0].reasons, interrupted)), True
    if not finished.is_set():
        proc.kill_all_running()
        return Evaluation(
            Status.ERROR,
            f"The check did not finish within its {ctx.deadline_s:g} s budget and was abandoned.",
            (f"Raise checks.{name}.timeout_s or find out why it hangs (see the evidence folder).",),
        ), False
    return outcome[0], False


def _attempt(check: Any, settings: dict[str, Any], ctx: CheckContext) -> Evaluation:
    try:
        raw = check.collect(settings, ctx)
        parsed = check.parse(raw)
        evaluation: Evaluation = check.evaluate(parsed, settings)
        return evaluation
    except CheckError as exc:
        return Evaluation(Status.ERROR, exc.reason.splitlines()[0], exc.sentences())
    except Exception as exc:  # a bug in a check must not take the other checks down
        return Evaluation(
            Status.ERROR,
            f"The check crashed: {type(exc).__name__}: {exc}",
            ("This is a defect in the gate, not in your service; please report it.",),
        )


def apply_waivers(result: CheckResult, waivers: Iterable[Waiver], today: dt.date) -> CheckResult:
    """Mark failing findings covered by a valid waiver; ``fail`` becomes ``waived`` if all are."""
    mine = [w for w in waivers if w.check == result.check]
    valid = [w for w in mine if not w.is_expired(today)]
    expired = tuple(w for w in mine if w.is_expired(today))
    used: list[Waiver] = []
    findings: list[Finding] = []
    for finding in result.findings:
        urls = [str(u) for u in finding.details.get("urls") or [finding.location]]
        waiver = next((w for w in valid if w.covers(_identities(finding), urls)), None)
        if waiver is not None and finding.failing:
            finding = replace(finding, waived_by=waiver.id)
            if waiver not in used:
                used.append(waiver)
        findings.append(finding)
    reasons = list(result.reasons)
    reasons += [f"Waiver {w.id} (owner {w.owner}) expired on {w.expires}; it is ignored." for w in expired]
    reasons += [
        f"Waiver {w.id} matches no finding any more; remove it from the config."
        for w in valid
        if w not in used and result.status in (Status.PASS, Status.FAIL)
    ]
    failing = [f for f in findings if f.failing]
    status = result.status
    if status is Status.FAIL and failing and all(f.waived_by for f in failing):
        status = Status.WAIVED
        reasons.append(f"Every failing finding ({len(failing)}) is covered by a valid waiver.")
    return replace(
        result,
        status=status,
        findings=tuple(findings),
        reasons=tuple(reasons),
        waivers_applied=tuple(used),
        waivers_expired=expired,
    )


def _identities(finding: Finding) -> set[str]:
    aliases = finding.details.get("aliases", ())
    return {finding.id, *map(str, aliases)}


def write_result(result: CheckResult, reports_dir: Path) -> Path:
    """Write ``results/<check>.json`` atomically, secrets redacted."""
    path = reports_dir / "results" / f"{result.check}.json"
    write_json_atomic(path, redact_tree(result.to_dict()))
    return path


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)
