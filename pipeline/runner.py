"""Run checks: collect -> parse -> evaluate under a time budget, apply waivers, write the result.

A check that raises or runs out of time becomes ``error`` with the reason; the
checks after it still run. Before it is written, a result is held to the rule the
verdict applies (``verdict.inconsistency``), so a check's bug shows at once.

Ctrl-C or SIGTERM: the interrupt is forwarded to the running tools, which get up to
``INTERRUPT_GRACE_S`` to write their last output (k6 writes its summary then); with no
tool running, an in-process check gets ``SHORT_GRACE_S``. A second signal ends the grace.
The result (``error``, "interrupted") is always written, then the interrupt goes on up
so the CLI can write the verdict of what ran.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from pipeline import gate, proc
from pipeline.checks.interface import INGESTED_DIR, CheckContext, Evaluation, is_inside
from pipeline.checks.registry import registry
from pipeline.config import Config
from pipeline.errors import CheckError
from pipeline.interrupts import Signals, deferred_signals
from pipeline.model import (
    CheckResult,
    Finding,
    NotApplicable,
    Status,
    ToolInfo,
    Waiver,
    now_utc,
    write_text_atomic,
)
from pipeline.redact import redact_text_file, redact_tree
from pipeline.results import inconsistency
from pipeline.settings_digest import settings_digest

# How long an interrupted tool gets to write its last output (k6 writes its summary then).
INTERRUPT_GRACE_S = 30.0
# How long an interrupted check gets when no tool is running (Python code: openapi, explain...).
SHORT_GRACE_S = 1.5
INTERRUPTED = "The run was interrupted (Ctrl-C or SIGTERM) before the check finished."
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
        today=today or started.date(),
        profile=config.profile,
        check=name,
        env=service_env(config, os.environ),  # the checks read the environment here, never os.environ themselves
    )
    # Copies from an earlier run of this check must not be taken for this run's evidence.
    shutil.rmtree(reports_dir / INGESTED_DIR / name, ignore_errors=True)
    interrupted = False
    record = _not_applicable(config, name)
    if record is not None:
        evaluation = _declared_not_applicable(name, record, ctx.today)
    elif not config.enabled(name):
        evaluation = Evaluation(
            Status.SKIPPED,
            f"Disabled in {config.path} (checks.{name}.enabled: false).",
            ("A skipped mandatory check makes the verdict incomplete; enable it to gate on it.",),
        )
    elif target_error is not None and gate.target_checks(config, [name]):
        evaluation = Evaluation(
            Status.ERROR,
            "The service under test could not be started, so this check could not run.",
            (target_error, "The target's logs are in the evidence folder (evidence/target/)."),
        )
    elif name not in registry().names():
        evaluation = Evaluation(
            Status.ERROR,
            f"This version of the gate has no '{name}' check yet.",
            (f"Set checks.{name}.enabled: false to acknowledge it, or upgrade the gate.",),
        )
    else:
        evaluation, interrupted = _run_with_budget(name, gate.check_settings(config, name), ctx)
    # Once the check is over, a signal waits until its result is on disk.
    with deferred_signals(reraise=False) as late:
        _mask_evidence(ctx)
        result = _finish(name, evaluation, ctx, started, config.waivers, today, record)
        result = replace(result, settings_digest=settings_digest(config, name))  # the verdict holds it to its own
        write_result(result, reports_dir)
    if interrupted or late.count:
        raise KeyboardInterrupt
    return result


def service_env(config: Config, environ: Mapping[str, str]) -> dict[str, str]:
    """The checks' environment: ``service.base_url`` is where every check that talks to the service goes
    (k6, zap, dashboards, a served OpenAPI spec), unless READINESS_BASE_URL says otherwise (a target the
    gate started sets it to where the service really listens). A check's own key still wins over both."""
    env = dict(environ)
    declared = config.service.get("base_url")
    if isinstance(declared, str) and declared and not env.get("READINESS_BASE_URL"):
        env["READINESS_BASE_URL"] = declared
    return env


def _not_applicable(config: Config, name: str) -> NotApplicable | None:
    """The check's not-applicable record, when its config declares one."""
    if name not in registry().names():
        return None
    declared = gate.check_settings(config, name).not_applicable
    return NotApplicable(declared.reason, declared.owner, declared.review_by) if declared else None


def _declared_not_applicable(name: str, record: NotApplicable, today: dt.date) -> Evaluation:
    """``not_applicable`` until the review date; after it, ``skipped`` (the verdict is incomplete again)."""
    if record.expired(today):
        return Evaluation(Status.SKIPPED, f"Declared not applicable until {record.review_by}, which has passed.",
                          (f"{record.shown()}; review it, then renew checks.{name}.not_applicable.review_by or "
                           "enable the check.",))
    return Evaluation(Status.NOT_APPLICABLE, f"{record.shown()} (review by {record.review_by}).",
                      (f"Declared in checks.{name}.not_applicable; the check did not run.",))


def _mask_evidence(ctx: CheckContext) -> None:
    """Secrets a tool wrote into its own output (a DSN in a failing test's message, say) are masked in
    every text evidence file under the reports folder before anyone uploads or signs it."""
    for path in ctx.evidence:
        if is_inside(path, ctx.reports_dir) and path.is_file():
            redact_text_file(path)


def _finish(name: str, evaluation: Evaluation, ctx: CheckContext, started: dt.datetime,
            waivers: Iterable[Waiver], today: dt.date | None, record: NotApplicable | None = None) -> CheckResult:
    """The result record: the evaluation, its evidence, the waivers applied, held to the verdict's rule."""
    result = CheckResult(
        check=name,
        status=evaluation.status,
        summary=evaluation.summary,
        reasons=evaluation.reasons,
        measurements=evaluation.measurements,
        findings=tuple(_catalogued(name, f) for f in evaluation.findings),
        evidence=tuple(_relative(p, ctx.reports_dir) for p in list(ctx.evidence)),
        tool=ctx.tool or ToolInfo("none", mode="none"),
        started_at=started,
        finished_at=now_utc(),
        details=evaluation.details,
        ingested=tuple(ctx.ingested),
        views=evaluation.views,
        not_applicable=record,
    )
    # Waivers are judged on the UTC day the check finished, as the verdict judges them.
    day = today or result.finished_at.date()
    result = apply_waivers(result, waivers, day)
    rule = inconsistency(result, day)
    if rule is not None:
        result = result.with_status(Status.ERROR, f"The check's own result breaks a rule of the gate: {rule}.",
                                    "This is a defect in the gate, not in your service; please report it.")
    return result


def _catalogued(name: str, finding: Finding) -> Finding:
    """The finding with its remediation: the tool's own advice, else the check's catalogue entry."""
    if finding.remediation or name not in registry().names():
        return finding
    return replace(finding, remediation=registry().get(name).remediation(finding.id))


def _run_with_budget(name: str, settings: Any, ctx: CheckContext) -> tuple[Evaluation, bool]:
    """The check's evaluation and whether the user interrupted it."""
    check = registry().get(name)()
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
        return _interrupted(finished, outcome), True
    if not finished.is_set():
        proc.kill_all_running()
        return Evaluation(
            Status.ERROR,
            f"The check did not finish within its {ctx.deadline_s:g} s budget and was abandoned.",
            (f"Raise checks.{name}.timeout_s or find out why it hangs (see the evidence folder).",),
        ), False
    return outcome[0], False


def _interrupted(finished: threading.Event, outcome: list[Evaluation]) -> Evaluation:
    """Stop what the check started and say what is left; more signals only shorten the wait."""
    with deferred_signals(reraise=False) as signals:
        proc.interrupt_all_running()
        _grace(finished, signals)
        proc.kill_all_running()
    if not outcome:
        return Evaluation(Status.ERROR, INTERRUPTED,
                          ("Run the gate again; nothing of this check's evidence can be trusted.",))
    # Whatever the tool wrote before it stopped is judged, but can never pass.
    status = outcome[0].status if outcome[0].status is Status.FAIL else Status.ERROR
    return replace(outcome[0], status=status, reasons=(*outcome[0].reasons, INTERRUPTED))


def _grace(finished: threading.Event, signals: Signals) -> None:
    """Wait for the check to end: long while a tool may still write its output, short otherwise."""
    started, calm = time.monotonic(), signals.count
    interrupted = proc.live_groups()
    while not finished.wait(0.05):
        waited = time.monotonic() - started
        if signals.count > calm or waited >= INTERRUPT_GRACE_S:
            return
        live = proc.live_groups()
        for pgid in live - interrupted:  # started after the interrupt: it must stop too
            proc.signal_group(pgid, signal.SIGINT)
        interrupted |= live
        if waited >= SHORT_GRACE_S and not live and not proc.live_stoppables():
            return


def _attempt(check: Any, settings: Any, ctx: CheckContext) -> Evaluation:
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
        waiver = next((w for w in valid if w.covers(finding.identities(), finding.seen_at())), None)
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


def write_result(result: CheckResult, reports_dir: Path) -> Path:
    """Write ``results/<check>.json`` atomically, secrets redacted."""
    path = reports_dir / "results" / f"{result.check}.json"
    # Compact, so that json's C encoder writes it (indenting takes the pure-Python path).
    write_text_atomic(path, json.dumps(redact_tree(result.to_dict()), default=str) + "\n")
    return path


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)
