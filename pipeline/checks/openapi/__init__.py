"""The ``openapi`` check: the API is designed first and documents how it fails and how fast it is.

collect: read the spec from a file, or fetch it from the running service (a URL); with
         ``served_spec``, also fetch the spec the running service serves.
parse:   validate it with openapi-spec-validator (OpenAPI 3.0 / 3.1); list its operations and
         compare them with the served ones.
evaluate: a valid spec where every operation documents the required error responses
          (default 400, 401, 500) and, when required, its latency SLA (``x-sla`` with a
          finite ``p95_ms`` > 0). Operations the service serves but the file lacks: error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from openapi_spec_validator.validation import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

from pipeline import evidence
from pipeline.checks.interface import Check, CheckContext, Evaluation, LegacySettings
from pipeline.checks.openapi.spec import Operation, compare, fetch, load, operations, require_openapi3
from pipeline.errors import ArtifactMissing, ParseError
from pipeline.model import Finding, Measurement, Status, ToolInfo

DEFAULT_RESPONSES = ("400", "401", "500")
MAX_ERRORS_SHOWN = 20
MAX_OPERATIONS_SHOWN = 20
DEFAULT_BASE_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class SpecRaw:
    """The spec as read, and the spec the running service serves (when configured)."""

    source: str
    document: Any
    served_source: str | None = None
    served_document: Any = None


@dataclass(frozen=True)
class SpecParsed:
    """The validated spec, its operations, and how they compare with the served ones."""

    source: str
    version: str
    errors: tuple[str, ...]
    operations: tuple[Operation, ...]
    served_source: str | None = None
    only_served: tuple[str, ...] = ()
    only_documented: tuple[str, ...] = ()


class OpenApiCheck(Check[Any, SpecRaw, SpecParsed]):
    """A valid OpenAPI 3 spec; every operation documents its errors and its SLA."""

    name = "openapi"
    title = "API design (OpenAPI)"
    order = 20
    Settings = LegacySettings  # a plain mapping until the check gets typed settings

    def collect(self, settings: dict[str, Any], ctx: CheckContext) -> SpecRaw:
        """Read the spec (file or URL) and, with ``served_spec``, the one the service serves."""
        source = str(settings.get("spec") or "")
        if not source:
            raise ArtifactMissing("checks.openapi.spec names no spec", "Set it to the spec file or its URL.")
        import openapi_spec_validator

        ctx.tool = ToolInfo("openapi-spec-validator", getattr(openapi_spec_validator, "__version__", "unknown"),
                            "api", (source,))
        if source.startswith(("http://", "https://")):
            text = _keep(ctx, "openapi-served.json", fetch(source, "spec"))
        else:
            path = ctx.add_evidence(ctx.resolve(source)) if ctx.resolve(source).is_file() else ctx.resolve(source)
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ArtifactMissing(f"the spec {path} cannot be read: {exc}") from None
        served = settings.get("served_spec")
        if not served:
            return SpecRaw(source, load(text, source))
        url = served_url(str(served), settings)
        served_text = _keep(ctx, "openapi-served-spec.json", fetch(url, "served spec (checks.openapi.served_spec)"))
        return SpecRaw(source, load(text, source), url, load(served_text, url))

    def parse(self, raw: SpecRaw) -> SpecParsed:
        """Validate the spec, list its operations, compare them with the served spec's."""
        version = require_openapi3(raw.document, raw.source)
        spec = raw.document
        errors = validate(spec, version, raw.source)
        documented = operations(spec)
        if raw.served_source is None:
            return SpecParsed(raw.source, version, errors, documented)
        require_openapi3(raw.served_document, raw.served_source)
        only_served, only_documented = compare(documented, operations(raw.served_document))
        return SpecParsed(raw.source, version, errors, documented, raw.served_source,
                          tuple(only_served), tuple(only_documented))

    def evaluate(self, parsed: SpecParsed, settings: dict[str, Any]) -> Evaluation:
        """Judge the spec against the required responses and SLA."""
        return evaluate_openapi(parsed, settings)


def validate(spec: dict[str, Any], version: str, source: str) -> tuple[str, ...]:
    """openapi-spec-validator's findings; ParseError when it cannot process the document at all."""
    validator = OpenAPIV31SpecValidator if version.startswith("3.1") else OpenAPIV30SpecValidator
    try:
        return tuple(f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message}"
                     for e in validator(spec).iter_errors())
    # The validator trusts the document's shape and fails on hostile ones with whatever it
    # meets (KeyError, TypeError, an unresolvable $ref...); none of that may crash the check.
    except Exception as exc:
        raise ParseError(source, "", f"openapi-spec-validator cannot process it ({type(exc).__name__}: "
                         f"{str(exc)[:200]})", "Fix the document's structure (a $ref pointing nowhere, "
                         "a list where a mapping belongs) and run the gate again.") from None


def served_url(served: str, settings: dict[str, Any]) -> str:
    """``served_spec`` as a URL: as written, or a path joined to the service's base URL."""
    if served.startswith(("http://", "https://")):
        return served
    base = settings.get("base_url") or os.environ.get("READINESS_BASE_URL") or DEFAULT_BASE_URL
    return f"{str(base).rstrip('/')}/{served.lstrip('/')}"


def _keep(ctx: CheckContext, name: str, text: str) -> str:
    evidence_file = ctx.evidence_dir / name
    evidence_file.write_text(text, encoding="utf-8")
    ctx.add_evidence(evidence_file)
    return text


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


def evaluate_openapi(parsed: SpecParsed, settings: dict[str, Any]) -> Evaluation:
    """Pure policy over the validated spec."""
    required = [str(r) for r in settings.get("require_responses", DEFAULT_RESPONSES)]
    require_sla = bool(settings.get("require_sla", True))
    findings = [Finding(f"spec:{i}", "high", f"invalid spec: {error}", parsed.source)
                for i, error in enumerate(parsed.errors[:MAX_ERRORS_SHOWN])]
    compliant = 0
    for op in parsed.operations:
        where = f"{op.method} {op.path}"
        missing = [code for code in required if code not in op.responses]
        if missing:
            findings.append(Finding(f"{where}:responses", "medium", f"{where} does not document "
                                    f"{', '.join(missing)}", where))
        problems = sla_problems(op.sla, where) if require_sla else []
        if problems:
            findings.append(Finding(f"{where}:sla", "medium", f"{where} {'; '.join(problems)} "
                                    "(an SLA needs a finite p95_ms > 0)", where))
        compliant += not missing and not problems
    findings += [Finding(f"{op}:not_served", "medium", f"{op} is in the spec file but the running service "
                         "does not serve it", op) for op in parsed.only_documented]
    measurements = (
        Measurement("spec errors", len(parsed.errors), "", "== 0", not parsed.errors),
        Measurement("operations", len(parsed.operations), ""),
        Measurement("operations documenting errors and SLA", compliant, "", f"== {len(parsed.operations)}",
                    compliant == len(parsed.operations)),
        *_served_measurements(parsed),
    )
    details = {"openapi": parsed.version, "required_responses": required, "served_spec": parsed.served_source,
               "only_served": list(parsed.only_served), "only_documented": list(parsed.only_documented)}
    return _judge(parsed, required, require_sla, compliant, measurements, findings, details)


def _served_measurements(parsed: SpecParsed) -> tuple[Measurement, ...]:
    if parsed.served_source is None:
        return ()
    return (Measurement("served operations missing from the spec", len(parsed.only_served), "", "== 0",
                        not parsed.only_served),)


def _judge(parsed: SpecParsed, required: list[str], require_sla: bool, compliant: int,
           measurements: tuple[Measurement, ...], findings: list[Finding], details: dict[str, Any]) -> Evaluation:
    if parsed.only_served:
        shown = ", ".join(parsed.only_served[:MAX_OPERATIONS_SHOWN])
        more = len(parsed.only_served) - MAX_OPERATIONS_SHOWN
        return Evaluation(Status.ERROR, f"The spec file lacks {len(parsed.only_served)} operation(s) the running "
                          "service serves: it is incomplete (cut short) or stale.",
                          (f"Served at {parsed.served_source} but not in {parsed.source}: {shown}"
                           + (f" and {more} more." if more > 0 else "."),
                           "Regenerate or complete the committed spec, then run the gate again."),
                          measurements, tuple(findings), details)
    if not parsed.operations:
        return Evaluation(Status.FAIL if parsed.errors else Status.ERROR, "The spec defines no operation.",
                          ("An API without operations proves nothing about its design.",), measurements,
                          tuple(findings), details)
    if findings:
        return Evaluation(Status.FAIL, f"{len(findings)} problem(s) in the OpenAPI {parsed.version} spec "
                          f"({compliant}/{len(parsed.operations)} operations complete).",
                          tuple(f.title for f in findings), measurements, tuple(findings), details)
    served = (f" and match the {len(parsed.operations)} the service serves"
              if parsed.served_source is not None else "")
    return Evaluation(Status.PASS, f"Valid OpenAPI {parsed.version}; all {len(parsed.operations)} operations "
                      f"document {', '.join(required)}{' and an SLA' if require_sla else ''}{served}.",
                      (), measurements, (), details)
