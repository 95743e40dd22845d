"""The ``api`` check: the running service keeps the promises of its OpenAPI spec.

collect: schemathesis drives every operation from the spec (a budget of examples and time,
         its JSON and JUnit reports kept as evidence); then probes per operation: auth
         (no token, expired, signed by another key, without the needed scope: 401/403),
         error bodies and headers on every answer, a bounded burst against each quota.
parse:   the reports validated; the operations schemathesis did not reach.
evaluate: conformance and no 5xx (schemathesis), the uniform error body with the request id
          of the correlation header, auth and roles, 429 with Retry-After at the quota,
          security headers and no version banner. Operations not reached or not answering:
          error, never a pass.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipeline.checks.api.generated import GeneratedRun, command, read, run
from pipeline.checks.api.policy import Observed, evaluate_api
from pipeline.checks.api.probes import Burst, Exchange, Prober, auth_probes, fresh_subject, prepare
from pipeline.checks.api.settings import ApiSettings
from pipeline.checks.api.spec import Operation, operations, read_spec
from pipeline.checks.api.tokens import Minter, minter
from pipeline.checks.interface import Check, CheckContext, Evaluation, FindingKind
from pipeline.errors import ArtifactMissing, CheckTimeout, ToolNotFound
from pipeline.model import ToolInfo

__all__ = ["FINDINGS", "ApiCheck", "ApiSettings"]

# Generated requests tried for a burst until one is accepted (a 400/422 is refused before any quota).
BURST_CANDIDATES = 5
_REMEDY_AUTH = "Make the operation verify the token (signature, expiry) and its scopes before anything else."
FINDINGS = {
    "server-error": FindingKind("an operation answered 5xx to a generated request (server-error:<op>:ST101)",
                                "Reproduce with the curl line; validate the input (a 4xx) instead of crashing."),
    "conformance": FindingKind("an answer does not match the spec: undocumented status, schema, content type "
                               "(conformance:<op>:<schemathesis code>)",
                               "Fix the service or the spec so they agree; `st explain <code>` tells more."),
    "error-shape": FindingKind("a 4xx/5xx body lacks a field of the standard error body (error-shape:<op>)",
                               "Answer every error with code, message, details, timestamp and request_id."),
    "request-id": FindingKind("an error body's request_id differs from the correlation header (request-id:<op>)",
                              "Put the request's id (the X-Request-ID answered) into the error body."),
    "stack-trace": FindingKind("an answer leaks a stack trace (stack-trace:<op>)",
                               "Log the trace; answer the standard error body without internals."),
    "auth": FindingKind("a secured operation accepts a missing, expired or foreign-signed token, or a token "
                        "without the needed scope (auth:<op>:<probe>)", _REMEDY_AUTH),
    "role": FindingKind("a token with exactly the scopes the spec names is refused (role:<op>)",
                        "Make the spec's security requirement name the scopes the operation really needs."),
    "rate-limit": FindingKind("a declared quota is not enforced with 429 and Retry-After at its limit "
                              "(rate-limit:<op>)", "Enforce x-rate-limit as declared, or correct the declaration."),
    "headers": FindingKind("an answer lacks a security header (headers:<op>:<header>)",
                           "Add the header to every response (a middleware)."),
    "banner": FindingKind("an answer announces the server software's version (banner:<op>)",
                          "Remove the version from Server and drop X-Powered-By."),
}


@dataclass(frozen=True)
class ApiRaw:
    """The spec's operations, the schemathesis reports and the probes' exchanges."""

    operations: tuple[Operation, ...]
    json_report: Path
    junit_report: Path
    exchanges: tuple[Exchange, ...]
    bursts: tuple[Burst, ...]
    https: bool


class ApiCheck(Check[ApiSettings, ApiRaw, Observed]):
    """The running service behaves as its spec says: conformance, errors, auth, rate limits, headers."""

    name = "api"
    title = "API contract (live)"
    order = 25  # right after openapi (20): the spec is valid, now the service must keep it
    needs_target = True
    security = True  # auth, leak and header findings belong in code scanning
    Settings = ApiSettings
    extra = "api"
    findings = FINDINGS

    def collect(self, settings: ApiSettings, ctx: CheckContext) -> ApiRaw:
        """Run schemathesis, then the probes; keep both as evidence."""
        schemathesis = _schemathesis()
        if not settings.spec:
            raise ArtifactMissing("checks.api.spec names no spec", "Set it to the committed OpenAPI file.")
        spec_path = ctx.add_evidence(ctx.resolve(settings.spec)) if ctx.resolve(settings.spec).is_file() \
            else ctx.resolve(settings.spec)
        document = read_spec(spec_path)
        ops = operations(document, str(spec_path), settings)
        base_url = settings.base_url or ctx.env.get("READINESS_BASE_URL", "")
        if not base_url:
            raise ArtifactMissing("no service to drive: checks.api.base_url and READINESS_BASE_URL are empty",
                                  "Let the gate start the service (service.start) or set READINESS_BASE_URL.")
        tokens = minter(ctx.env, settings.token_env, settings.jwt_secret_env, settings.scope_claim) \
            if any(o.secured or o.rate_limit for o in ops) else None
        ctx.tool = ToolInfo("schemathesis", getattr(schemathesis, "__version__", "unknown"), "api", (str(spec_path),))
        reports = ctx.evidence_dir / "api"
        reports.mkdir(exist_ok=True)
        argv = command(spec_path, base_url, ctx.env.get(settings.token_env, ""), settings, reports)
        try:
            run(argv, ctx.evidence_dir / "schemathesis.log", min(ctx.deadline_s, settings.max_time_s))
        except CheckTimeout as exc:  # killed before its reports: no operation can be counted as exercised
            raise CheckTimeout(f"the budget ran out ({exc.reason}); not reached (none confirmed): "
                               f"{', '.join(o.name for o in ops)}",
                               "Raise checks.api.max_time_s, or lower max_examples / drop phases.") from None
        exchanges, bursts = _probe(schemathesis.openapi.from_dict(document), ops, base_url, tokens, settings)
        probes_file = reports / "probes.json"
        probes_file.write_text(json.dumps({"exchanges": [asdict(x) for x in exchanges],
                                           "bursts": [asdict(b) for b in bursts]}, indent=1, default=str))
        for path in (reports / "schemathesis.json", reports / "schemathesis-junit.xml", probes_file,
                     ctx.evidence_dir / "schemathesis.log"):
            if path.is_file():
                ctx.add_evidence(path)
        return ApiRaw(ops, reports / "schemathesis.json", reports / "schemathesis-junit.xml", exchanges, bursts,
                      base_url.startswith("https://"))

    def parse(self, raw: ApiRaw) -> Observed:
        """The schemathesis reports validated, beside the probes."""
        generated: GeneratedRun = read(raw.json_report, raw.junit_report)
        return Observed(raw.operations, generated, raw.exchanges, raw.bursts, raw.https)

    def evaluate(self, parsed: Observed, settings: ApiSettings) -> Evaluation:
        """Every rule (see ``policy``)."""
        return evaluate_api(parsed, settings)


def _schemathesis() -> Any:
    """The schemathesis library (and PyJWT, the probes' token maker), or ToolNotFound saying how to install."""
    try:
        import jwt  # noqa: F401  (only whether it is there)
        import schemathesis
    except ImportError as exc:
        raise ToolNotFound(f"{exc.name or 'schemathesis'} is not installed for the gate's Python ({sys.executable})",
                           "pip install 'readiness-gate[api]' (schemathesis, PyJWT)") from None
    return schemathesis


def _probe(schema: object, ops: tuple[Operation, ...], base_url: str, tokens: Minter | None,
           settings: ApiSettings) -> tuple[tuple[Exchange, ...], tuple[Burst, ...]]:
    prober = Prober(base_url, settings.request_timeout_s, settings.correlation_header)
    exchanges: list[Exchange] = []
    bursts: list[Burst] = []
    for op in ops:
        valid = prepare(schema, op, base_url, positive=True)
        assert valid is not None
        full = tokens.token() if tokens else None
        exchanges.append(prober.send(op, "valid", valid, full if op.secured else None))
        invalid = prepare(schema, op, base_url, positive=False)
        if invalid is not None:
            exchanges.append(prober.send(op, "invalid-input", invalid, full))
        if op.secured and tokens:
            exchanges += [prober.send(op, probe, valid, token) for probe, token in auth_probes(op, tokens)]
            if op.scopes:
                exchanges.append(prober.send(op, "with-scope", valid, tokens.token(scopes=op.scopes)))
        if op.rate_limit and tokens:
            bursts.append(_burst(prober, schema, op, base_url, tokens, settings.max_burst))
    return tuple(exchanges), tuple(bursts)


def _burst(prober: Prober, schema: object, op: Operation, base_url: str, tokens: Minter, max_burst: int) -> Burst:
    """A burst with a request the service accepts (a 400/422 never reaches a quota), from a subject of its own."""
    for _ in range(BURST_CANDIDATES):
        candidate = prepare(schema, op, base_url, positive=True)
        assert candidate is not None
        if prober.send(op, "burst-candidate", candidate, tokens.token()).status not in (400, 422):
            return prober.burst(op, candidate, tokens.token(subject=fresh_subject(), scopes=op.scopes or None),
                                max_burst)
    return Burst(op.name, op.rate_limit.limit if op.rate_limit else 0, op.rate_limit.window_s if op.rate_limit
                 else 1, 0, None, None, 0.0, {}, "", f"none of {BURST_CANDIDATES} generated requests was accepted "
                                                      "(400/422), so no burst could reach the quota")
