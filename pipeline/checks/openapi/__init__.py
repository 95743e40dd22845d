"""The ``openapi`` check: the API is designed first and documents how it fails and how fast it is.

collect: read the spec from a file, or fetch it from the running service (a URL); with
         ``served_spec``, also fetch the spec the running service serves.
parse:   validate it with openapi-spec-validator (OpenAPI 3.0 / 3.1); list its operations and
         compare them with the served ones (spec).
evaluate: a valid spec where every operation documents the required error responses
          (default 400, 401, 500) and, when required, its latency SLA (``x-sla`` with a
          finite ``p95_ms`` > 0). Operations the service serves but the file lacks: error (policy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.checks.interface import Check, CheckContext, Evaluation, FindingKind
from pipeline.checks.openapi.document import load
from pipeline.checks.openapi.policy import SpecParsed, evaluate_openapi, sla_problems
from pipeline.checks.openapi.settings import OpenApiSettings
from pipeline.checks.openapi.spec import compare, fetch, operations, require_openapi3, validate
from pipeline.errors import ArtifactMissing
from pipeline.model import ToolInfo

__all__ = ["FINDINGS", "OpenApiCheck", "OpenApiSettings", "SpecParsed", "SpecRaw", "evaluate_openapi", "served_url",
           "sla_problems"]

# The service's address when neither base_url nor READINESS_BASE_URL says otherwise.
DEFAULT_BASE_URL = "http://127.0.0.1:8000"

FINDINGS = {
    "invalid-spec": FindingKind("openapi-spec-validator refuses the spec at a place (invalid-spec:<JSON pointer>, "
                                "e.g. invalid-spec:#/paths/~1orders/get/responses/200; invalid-spec:more stands "
                                "for the places past the first 50)",
                                "Fix the document at that place (the finding quotes the validator), then run "
                                "openapi-spec-validator on it."),
    "responses": FindingKind("an operation does not document every status in require_responses "
                             "(responses:<METHOD>:<path>)",
                             "Add the missing responses (400, 401, 500 by default) to the operation, each with "
                             "a description and, ideally, the error body's schema."),
    "sla": FindingKind("an operation has no usable x-sla: p95_ms missing or not a finite number > 0, or "
                       "error_rate outside [0, 1] (sla:<METHOD>:<path>)",
                       "Give the operation an x-sla such as {p95_ms: 200, error_rate: 0.001}, or set "
                       "require_sla: false with an approval."),
    "drift": FindingKind("an operation is in the spec file but the running service does not serve it "
                         "(drift:<METHOD>:<path>)",
                         "Implement the operation, or remove it from the spec file (regenerate it from the "
                         "service)."),
}


@dataclass(frozen=True)
class SpecRaw:
    """The spec as read, and the spec the running service serves (when configured)."""

    source: str
    document: Any
    served_source: str | None = None
    served_document: Any = None


class OpenApiCheck(Check[OpenApiSettings, SpecRaw, SpecParsed]):
    """A valid OpenAPI 3 spec; every operation documents its errors and its SLA."""

    name = "openapi"
    title = "API design (OpenAPI)"
    order = 20
    Settings = OpenApiSettings
    extra = "openapi"
    findings = FINDINGS

    @classmethod
    def wants_target(cls, settings: OpenApiSettings) -> bool:
        """The service under test is needed to fetch ``served_spec``, or a spec served on a loopback address."""
        return settings.fetches_from_service()

    def collect(self, settings: OpenApiSettings, ctx: CheckContext) -> SpecRaw:
        """Read the spec (file or URL) and, with ``served_spec``, the one the service serves."""
        source = settings.spec
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
        if not settings.served_spec:
            return SpecRaw(source, load(text, source))
        url = served_url(settings.served_spec, settings.base_url or ctx.env.get("READINESS_BASE_URL"))
        served_text = _keep(ctx, "openapi-served-spec.json", fetch(url, "served spec (checks.openapi.served_spec)"))
        return SpecRaw(source, load(text, source), url, load(served_text, url))

    def parse(self, raw: SpecRaw) -> SpecParsed:
        """Validate the spec, list its operations, compare them with the served spec's."""
        version = require_openapi3(raw.document, raw.source)
        errors = validate(raw.document, version, raw.source)
        documented = operations(raw.document)
        if raw.served_source is None:
            return SpecParsed(raw.source, version, errors, documented)
        require_openapi3(raw.served_document, raw.served_source)
        only_served, only_documented = compare(documented, operations(raw.served_document))
        return SpecParsed(raw.source, version, errors, documented, raw.served_source, only_served, only_documented)

    def evaluate(self, parsed: SpecParsed, settings: OpenApiSettings) -> Evaluation:
        """Judge the spec against the required responses and SLA (see ``policy``)."""
        return evaluate_openapi(parsed, settings)


def served_url(served: str, base_url: str | None) -> str:
    """``served_spec`` as a URL: as written, or a path joined to the service's base URL."""
    if served.startswith(("http://", "https://")):
        return served
    base = base_url or DEFAULT_BASE_URL
    return f"{base.rstrip('/')}/{served.lstrip('/')}"


def _keep(ctx: CheckContext, name: str, text: str) -> str:
    evidence_file = ctx.evidence_dir / name
    evidence_file.write_text(text, encoding="utf-8")
    ctx.add_evidence(evidence_file)
    return text
