"""The ``openapi`` check: the API is designed first and documents how it fails and how fast it is.

collect: read the spec from a file, or fetch it from the running service (a URL).
parse:   validate it with openapi-spec-validator (OpenAPI 3.0 / 3.1); list its operations.
evaluate: a valid spec where every operation documents the required error responses
          (default 400, 401, 500) and, when required, its latency SLA (``x-sla`` with ``p95_ms``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests
import yaml
from openapi_spec_validator.validation import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

from pipeline.checks.interface import Check, CheckContext, Evaluation
from pipeline.errors import ArtifactMissing, CheckError, ParseError
from pipeline.model import Finding, Measurement, Status, ToolInfo

DEFAULT_RESPONSES = ("400", "401", "500")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
MAX_ERRORS_SHOWN = 20


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    responses: frozenset[str]
    sla: Any


@dataclass(frozen=True)
class SpecParsed:
    source: str
    version: str
    errors: tuple[str, ...]
    operations: tuple[Operation, ...]


class OpenApiCheck(Check[tuple[str, Any], SpecParsed]):
    """A valid OpenAPI 3 spec; every operation documents its errors and its SLA."""

    name = "openapi"
    title = "API design (OpenAPI)"

    def collect(self, settings: dict[str, Any], ctx: CheckContext) -> tuple[str, Any]:
        source = str(settings.get("spec") or "")
        if not source:
            raise ArtifactMissing("checks.openapi.spec names no spec", "Set it to the spec file or its URL.")
        import openapi_spec_validator

        ctx.tool = ToolInfo("openapi-spec-validator", getattr(openapi_spec_validator, "__version__", "unknown"),
                            "api", (source,))
        if source.startswith(("http://", "https://")):
            try:
                answer = requests.get(source, timeout=15)
                answer.raise_for_status()
            except requests.RequestException as exc:
                raise CheckError(f"the spec at {source} cannot be fetched: {type(exc).__name__}",
                                 "Is the service running? Or point checks.openapi.spec at the committed file."
                                 ) from None
            text = answer.text
            evidence = ctx.evidence_dir / "openapi-served.json"
            evidence.write_text(text)
            ctx.add_evidence(evidence)
        else:
            path = ctx.resolve(source)
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ArtifactMissing(f"the spec {path} cannot be read: {exc.strerror}") from None
            ctx.add_evidence(path)
        return source, _load(text, source)

    def parse(self, raw: tuple[str, Any]) -> SpecParsed:
        source, spec = raw
        if not isinstance(spec, dict) or not str(spec.get("openapi", "")).startswith("3."):
            raise ParseError(source, "openapi", "is not an OpenAPI 3 document (no 'openapi: 3.x' field)")
        validator = OpenAPIV31SpecValidator if str(spec["openapi"]).startswith("3.1") else OpenAPIV30SpecValidator
        errors = tuple(f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message}"
                       for e in validator(spec).iter_errors())
        operations = tuple(
            Operation(method.upper(), path, frozenset(str(code) for code in (op.get("responses") or {})),
                      op.get("x-sla"))
            for path, item in (spec.get("paths") or {}).items() if isinstance(item, dict)
            for method, op in item.items() if method in METHODS and isinstance(op, dict))
        return SpecParsed(source, str(spec["openapi"]), errors, operations)

    def evaluate(self, parsed: SpecParsed, settings: dict[str, Any]) -> Evaluation:
        return evaluate_openapi(parsed, settings)


def _load(text: str, source: str) -> Any:
    try:
        return json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ParseError(source, f"line {exc.lineno} column {exc.colno}", f"is not valid JSON ({exc.msg})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ParseError(source, f"line {mark.line + 1}" if mark else "", "is not valid YAML") from None


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
        sla_ok = isinstance(op.sla, dict) and isinstance(op.sla.get("p95_ms"), int | float) and op.sla["p95_ms"] > 0
        if require_sla and not sla_ok:
            findings.append(Finding(f"{where}:sla", "medium", f"{where} has no x-sla with a positive p95_ms", where))
        compliant += not missing and (sla_ok or not require_sla)
    measurements = (
        Measurement("spec errors", len(parsed.errors), "", "== 0", not parsed.errors),
        Measurement("operations", len(parsed.operations), ""),
        Measurement("operations documenting errors and SLA", compliant, "", f"== {len(parsed.operations)}",
                    compliant == len(parsed.operations)),
    )
    details = {"openapi": parsed.version, "required_responses": required}
    if not parsed.operations:
        return Evaluation(Status.FAIL if parsed.errors else Status.ERROR, "The spec defines no operation.",
                          ("An API without operations proves nothing about its design.",), measurements,
                          tuple(findings), details)
    if findings:
        return Evaluation(Status.FAIL, f"{len(findings)} problem(s) in the OpenAPI {parsed.version} spec "
                          f"({compliant}/{len(parsed.operations)} operations complete).",
                          tuple(f.title for f in findings), measurements, tuple(findings), details)
    return Evaluation(Status.PASS, f"Valid OpenAPI {parsed.version}; all {len(parsed.operations)} operations "
                      f"document {', '.join(required)}{' and an SLA' if require_sla else ''}.",
                      (), measurements, (), details)
