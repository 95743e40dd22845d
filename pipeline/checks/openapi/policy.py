"""The openapi check's policy: pure, over the validated spec (no I/O).

A valid spec where every operation documents the required error responses and, when
required, its latency SLA (``x-sla`` with a finite ``p95_ms`` > 0). Operations the running
service serves but the file lacks make the evidence incomplete: an error, never a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from pipeline import evidence
from pipeline.checks.interface import Evaluation
from pipeline.checks.openapi.settings import OpenApiSettings
from pipeline.checks.openapi.spec import Operation, SpecError
from pipeline.errors import ParseError
from pipeline.model import Finding, Measurement, Status

# Each spec error is a finding (a waiver names its place); past this many, one finding stands for the rest.
MAX_ERROR_FINDINGS = 50
MAX_OPERATIONS_SHOWN = 20
# What stays readable in an id: a URL path's and a JSON pointer's own characters; the rest is %-encoded.
_ID_SAFE = "/{}~#:@!$&'()*+,;=-._"


@dataclass(frozen=True)
class SpecParsed:
    """The validated spec, its operations, and how they compare with the served ones."""

    source: str
    version: str
    errors: tuple[SpecError, ...]
    operations: tuple[Operation, ...]
    served_source: str | None = None
    only_served: tuple[Operation, ...] = ()
    only_documented: tuple[Operation, ...] = ()


def sla_problems(sla: Any, where: str) -> list[str]:
    """What is wrong with an operation's ``x-sla`` ([] when usable): p95_ms a finite number > 0."""
    if not isinstance(sla, dict):
        return ["has no x-sla"]
    problems = [] if "p95_ms" in sla else ["has no x-sla.p95_ms"]
    # p95_ms: a latency, finite and > 0; error_rate (optional): a rate in [0, 1].
    for key, minimum, maximum in (("p95_ms", None, None), ("error_rate", 0.0, 1.0)):
        if key not in sla:
            continue
        place = f"x-sla.{key}"
        try:
            value = evidence.number(sla[key], where, place, minimum=minimum, maximum=maximum)
        except ParseError as exc:
            problems.append(f"{place} {exc.reason.removeprefix(f'{where}: {place}: ')}")
            continue
        if key == "p95_ms" and value <= 0:
            problems.append(f"{place} is {sla[key]!r}, not > 0")
    return problems


def evaluate_openapi(parsed: SpecParsed, settings: OpenApiSettings) -> Evaluation:
    """Pure policy over the validated spec."""
    required = list(settings.require_responses)
    findings = _error_findings(parsed)
    compliant = 0
    for op in parsed.operations:
        missing = [code for code in required if code not in op.responses]
        if missing:
            findings.append(_operation_finding("responses", op, f"does not document {', '.join(missing)}"))
        problems = sla_problems(op.sla, _where(op)) if settings.require_sla else []
        if problems:
            findings.append(_operation_finding("sla", op, f"{'; '.join(problems)} (an SLA needs a finite p95_ms > 0)"))
        compliant += not missing and not problems
    findings += [_operation_finding("drift", op, "is in the spec file but the running service does not serve it",
                                    old="not_served") for op in parsed.only_documented]
    measurements = (
        Measurement("spec errors", len(parsed.errors), "", "== 0", not parsed.errors),
        Measurement("operations", len(parsed.operations), ""),
        Measurement("operations documenting errors and SLA", compliant, "", f"== {len(parsed.operations)}",
                    compliant == len(parsed.operations)),
        *_served_measurements(parsed),
    )
    details = {"openapi": parsed.version, "required_responses": required, "served_spec": parsed.served_source,
               "only_served": [_where(op) for op in parsed.only_served],
               "only_documented": [_where(op) for op in parsed.only_documented]}
    evaluation = Evaluation(Status.PASS, "", (), measurements, tuple(findings), details)
    return _judge(parsed, settings, compliant, evaluation)


def _where(op: Operation) -> str:
    return f"{op.method} {op.path}"


def _operation_finding(kind: str, op: Operation, problem: str, old: str | None = None) -> Finding:
    """``<kind>:<METHOD>:<path>``; the id this gate used before (``GET /orders:<kind>``) stays an alias."""
    where = _where(op)
    return Finding(f"{kind}:{op.method}:{quote(op.path, safe=_ID_SAFE)}", "medium", f"{where} {problem}", where,
                   aliases=(f"{where}:{old or kind}",))


def _error_findings(parsed: SpecParsed) -> list[Finding]:
    """One finding per place the validator complains about, its messages together."""
    by_place: dict[str, list[str]] = {}
    for error in parsed.errors:
        by_place.setdefault(error.pointer, []).append(error.message)
    findings = [Finding(f"invalid-spec:{quote(pointer, safe=_ID_SAFE)}", "high",
                        f"invalid spec at {pointer}: {'; '.join(messages)}", parsed.source)
                for pointer, messages in list(by_place.items())[:MAX_ERROR_FINDINGS]]
    if len(by_place) > MAX_ERROR_FINDINGS:
        findings.append(Finding("invalid-spec:more", "high", f"invalid spec at {len(by_place) - MAX_ERROR_FINDINGS} "
                                "more place(s), not listed one by one", parsed.source))
    return findings


def _served_measurements(parsed: SpecParsed) -> tuple[Measurement, ...]:
    if parsed.served_source is None:
        return ()
    return (Measurement("served operations missing from the spec", len(parsed.only_served), "", "== 0",
                        not parsed.only_served),)


def _judge(parsed: SpecParsed, settings: OpenApiSettings, compliant: int, evaluation: Evaluation) -> Evaluation:
    """The status and the sentences that explain it."""
    findings = evaluation.findings
    if parsed.only_served:
        shown = ", ".join(_where(op) for op in parsed.only_served[:MAX_OPERATIONS_SHOWN])
        more = len(parsed.only_served) - MAX_OPERATIONS_SHOWN
        return _with(evaluation, Status.ERROR, f"The spec file lacks {len(parsed.only_served)} operation(s) the "
                     "running service serves: it is incomplete (cut short) or stale.",
                     (f"Served at {parsed.served_source} but not in {parsed.source}: {shown}"
                      + (f" and {more} more." if more > 0 else "."),
                      "Regenerate or complete the committed spec, then run the gate again."))
    if not parsed.operations:
        return _with(evaluation, Status.FAIL if parsed.errors else Status.ERROR, "The spec defines no operation.",
                     ("An API without operations proves nothing about its design.",))
    if findings:
        return _with(evaluation, Status.FAIL, f"{len(findings)} problem(s) in the OpenAPI {parsed.version} spec "
                     f"({compliant}/{len(parsed.operations)} operations complete).", tuple(f.title for f in findings))
    served = (f" and match the {len(parsed.operations)} the service serves"
              if parsed.served_source is not None else "")
    sla = " and an SLA" if settings.require_sla else ""
    return _with(evaluation, Status.PASS, f"Valid OpenAPI {parsed.version}; all {len(parsed.operations)} operations "
                 f"document {', '.join(settings.require_responses)}{sla}{served}.", ())


def _with(evaluation: Evaluation, status: Status, summary: str, reasons: tuple[str, ...]) -> Evaluation:
    return Evaluation(status, summary, reasons, evaluation.measurements, evaluation.findings, evaluation.details)
