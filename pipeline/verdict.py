"""One verdict from the results (read and checked by pipeline.results); never re-runs a check.

``ready`` needs every mandatory check to be ``pass``, ``waived`` or ``not_applicable`` (a record
with a reason, an owner and a review date not yet passed on the verdict's day); one ``fail`` makes
it ``not_ready``; otherwise an ``error``, ``skipped`` or missing check makes it
``incomplete``. Nothing in a result file is taken on trust: the file is validated
against its schema, must be named after its check, and its status is recomputed from
its own findings, measurements and waivers (``inconsistency``). A file that breaks a
rule counts as an ``error`` of its check. ``decide`` is a pure function of the
results and the clock it is given; the caller gathers the environment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import jsonschema

from pipeline import __version__
from pipeline.model import (
    VERDICT_SCHEMA,
    CheckResult,
    Status,
    Verdict,
    now_utc,
)
from pipeline.results import Merge, known_checks, shipped_schema

READY_REASON = "Every mandatory check passed, is covered by valid waivers, or is not applicable on the record."


@dataclass(frozen=True)
class VerdictReport:
    """Everything the reporters need, and nothing they would have to compute."""

    verdict: Verdict
    reasons: tuple[str, ...]
    checks: tuple[CheckResult, ...]
    missing: tuple[str, ...]
    merged: tuple[Merge, ...] = ()
    environment: dict[str, Any] = field(default_factory=dict)
    generated_at: str = field(default_factory=lambda: now_utc().isoformat())
    warnings: tuple[str, ...] = ()
    interrupted: str | None = None
    mandatory: tuple[str, ...] = ()  # every check the verdict required, in run order
    security: tuple[str, ...] = ()  # the checks whose findings are security findings (SARIF)
    policy: dict[str, Any] | None = None  # the effective policy (pipeline.policy), when a config was given
    comparison: dict[str, Any] | None = None  # baseline, policy changes, deltas (pipeline.release)
    trends: tuple[Any, ...] = ()  # one sparkline per key figure over the history's last runs (HTML only)
    signoff: dict[str, Any] | None = None  # the sign-off state the HTML shows (pipeline.signoff), not in the JSON

    def to_dict(self) -> dict[str, Any]:
        """JSON form (schema ``readiness.verdict/1``)."""
        return {
            "schema": VERDICT_SCHEMA,
            "verdict": self.verdict.value,
            "exit_code": self.verdict.exit_code,
            "generated_at": self.generated_at,
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "interrupted": self.interrupted,
            "checks": [c.to_dict() for c in self.checks],
            "missing": list(self.missing),
            "mandatory": list(self.mandatory),
            "security_checks": list(self.security),
            "merged": [{"check": m.check, "kept": m.kept, "dropped": list(m.dropped), "why": list(m.why)}
                       for m in self.merged],
            "waivers": {
                "applied": [w.to_dict() for c in self.checks for w in c.waivers_applied],
                "expired": [w.to_dict() for c in self.checks for w in c.waivers_expired],
            },
            "environment": self.environment,
            "policy": self.policy,
            "comparison": self.comparison,
        }


def decide(results: Iterable[CheckResult], merges: Iterable[Merge] = (),
           mandatory: tuple[str, ...] | None = None, *, warnings: Iterable[str] = (),
           interrupted: str | None = None, environment: dict[str, Any] | None = None,
           generated_at: dt.datetime | None = None, security: tuple[str, ...] | None = None) -> VerdictReport:
    """The verdict over ``results``, in the fixed check order. Pure: no file, clock or host is read.

    ``mandatory`` and ``security`` default to what the registry declares; ``interrupted``
    says why the run stopped early (such a verdict is never ``ready``).
    """
    mandatory = mandatory if mandatory is not None else known_checks().names()
    security = security if security is not None else known_checks().security()
    order = {name: i for i, name in enumerate(mandatory)}
    checks = tuple(sorted(results, key=lambda r: (order.get(r.check, len(order)), r.check)))
    checks = tuple(_expire(r, (generated_at or now_utc()).astimezone(dt.UTC).date()) for r in checks)
    present = {r.check for r in checks}
    missing = tuple(name for name in mandatory if name not in present)
    failed = [r for r in checks if r.status is Status.FAIL]
    unfinished = [r for r in checks if r.status in (Status.ERROR, Status.SKIPPED)]
    merges, warnings = tuple(merges), tuple(warnings)
    reasons = [f"{r.check} failed: {r.summary}" for r in failed]
    reasons += [f"{r.check} is {r.status.value}: {r.summary}" for r in unfinished]
    reasons += [f"{name} has no result: the check did not run." for name in missing]
    reasons += [f"{m.check} was found in {len(m.dropped) + 1} result folders; {m.kept} was kept. Dropped: "
                + "; ".join(m.why or m.dropped) + "." for m in merges]
    reasons += [f"Warning: {w}" for w in warnings]
    if interrupted:
        reasons.insert(0, interrupted)
    if failed:
        verdict = Verdict.NOT_READY
    elif unfinished or missing or interrupted:
        verdict = Verdict.INCOMPLETE
    else:
        verdict = Verdict.READY
        reasons.insert(0, READY_REASON)
        reasons[1:1] = [f"{r.check} is {r.not_applicable.shown()} (review by {r.not_applicable.review_by})."
                        for r in checks if r.status is Status.NOT_APPLICABLE and r.not_applicable]
    stamp = (generated_at or now_utc()).isoformat()
    # The gate's own version is known here; the host and the commit only the caller can tell.
    env = {"gate_version": __version__, "git_commit": None, **(environment or {})}
    return VerdictReport(verdict, tuple(reasons), checks, missing, merges, env, stamp, warnings, interrupted,
                         tuple(mandatory), tuple(security))


def _expire(result: CheckResult, today: dt.date) -> CheckResult:
    """A not-applicable record past its review date (or none at all) does not count: the check is ``skipped``."""
    record = result.not_applicable
    if result.status is not Status.NOT_APPLICABLE or (record is not None and not record.expired(today)):
        return result
    if record is None:  # load_results refuses such a file; a caller handing one in gets no more trust
        return replace(result, status=Status.SKIPPED, reasons=("not_applicable without a record (reason, owner, "
                                                                "review_by) does not count.", *result.reasons))
    return replace(result, status=Status.SKIPPED,
                   summary=f"Declared not applicable until {record.review_by}, which has passed on {today}.",
                   reasons=(f"{record.shown()}; the review date {record.review_by} has passed: review it, then "
                            f"renew checks.{result.check}.not_applicable.review_by or enable the check.",
                            *result.reasons))


def cannot_be_ready(report: VerdictReport, *why: str) -> VerdictReport:
    """``report`` with more reasons, and ``incomplete`` instead of ``ready`` (a ``not_ready`` stays)."""
    verdict = Verdict.INCOMPLETE if report.verdict is Verdict.READY else report.verdict
    return replace(report, verdict=verdict, reasons=(*why, *(r for r in report.reasons if r != READY_REASON)))


def cannot_pass(report: VerdictReport, *why: str) -> VerdictReport:
    """``report`` with more reasons, and ``not_ready`` whatever it was (a broken release rule, say)."""
    return replace(report, verdict=Verdict.NOT_READY,
                   reasons=(*why, *(r for r in report.reasons if r != READY_REASON)))


def validate_verdict(data: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError if ``data`` is not a valid verdict document."""
    registry = _registry()
    validator = jsonschema.Draft202012Validator(shipped_schema("verdict.schema.json"), registry=registry,
                                                format_checker=jsonschema.FormatChecker())
    validator.validate(data)


def _registry() -> Any:
    from referencing import Registry, Resource

    result = shipped_schema("result.schema.json")
    return Registry().with_resource(result["$id"], Resource.from_contents(result))
