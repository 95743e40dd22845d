"""The api check's rules, applied to what the generated run and the probes saw. Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.checks.api.generated import Failure, GeneratedRun
from pipeline.checks.api.probes import Burst, Exchange
from pipeline.checks.api.settings import ApiSettings
from pipeline.checks.api.spec import Operation
from pipeline.checks.interface import Evaluation
from pipeline.model import Finding, Instance, Measurement, Status
from pipeline.views import Table

# schemathesis's check codes that mean a server error, and the finding kind of all the others.
SERVER_ERROR = {"ST101"}
_TRACE = re.compile(r"Traceback \(most recent call last\)|\bat [\w.$]+\([\w.]+:\d+\)|File \"[^\"]+\", line \d+")
_VERSION = re.compile(r"\d+\.\d+")


@dataclass(frozen=True)
class Observed:
    """Everything the check saw, for ``evaluate``."""

    operations: tuple[Operation, ...]
    generated: GeneratedRun
    exchanges: tuple[Exchange, ...]
    bursts: tuple[Burst, ...]
    https: bool


def generated_findings(run: GeneratedRun) -> list[Finding]:
    """One finding per (operation, schemathesis check) that failed."""
    seen: dict[str, Failure] = {}
    for failure in run.failures:
        kind = "server-error" if failure.code in SERVER_ERROR else "conformance"
        seen.setdefault(f"{kind}:{failure.operation}:{failure.code}", failure)
    return [_finding(key, "high" if key.startswith("server-error") else "medium",
                     f"{f.operation}: schemathesis {f.code} ({_first_line(f.text)})", f.operation, f.curl,
                     f.status, f.excerpt, f.text) for key, f in seen.items()]


def exchange_findings(exchanges: Iterable[Exchange], settings: ApiSettings, https: bool) -> list[Finding]:
    """Auth refusals, error bodies, stack traces, security headers and banners of every probe."""
    findings: dict[str, Finding] = {}
    for x in exchanges:
        if x.status is None:
            continue
        for key, severity, problem in _problems(x, settings, https):
            findings.setdefault(key, _finding(key, severity, f"{x.operation}: {problem}", x.operation, x.curl,
                                              x.status, x.excerpt))
    return list(findings.values())


def _problems(x: Exchange, settings: ApiSettings, https: bool) -> Iterable[tuple[str, str, str]]:
    expected = {"no-token": 401, "expired-token": 401, "foreign-key-token": 401, "no-scope": 403}.get(x.probe)
    if expected is not None and x.status != expected:
        yield f"auth:{x.operation}:{x.probe}", "high", f"answers {x.status} to a request with {x.probe}, not {expected}"
    if x.probe == "with-scope" and x.status in (401, 403):
        yield f"role:{x.operation}", "medium", f"refuses ({x.status}) a token with exactly the scopes the spec names"
    if (x.status or 0) >= 400:
        yield from _error_body(x, settings)
    if _TRACE.search(x.excerpt):
        yield f"stack-trace:{x.operation}", "high", f"leaks a stack trace in a {x.status} answer"
    for wanted in (*settings.security_headers, *(("strict-transport-security",) if https else ())):
        if not any(name in x.headers for name in wanted.split("|")):
            yield f"headers:{x.operation}:{wanted}", "medium", f"answers without the {wanted} header"
    banner = " ".join(x.headers.get(h, "") for h in ("server", "x-powered-by"))
    if _VERSION.search(banner) or "x-powered-by" in x.headers:
        yield f"banner:{x.operation}", "low", f"announces its software: {banner.strip()[:80]}"


def _error_body(x: Exchange, settings: ApiSettings) -> Iterable[tuple[str, str, str]]:
    body = x.body if isinstance(x.body, dict) else None
    missing = [f for f in settings.error_fields if body is None or f not in body]
    if missing:
        yield f"error-shape:{x.operation}", "medium", (f"a {x.status} body lacks {', '.join(missing)}" if body
                                                       is not None else f"a {x.status} body is not a JSON object")
        return
    assert body is not None
    header = x.headers.get(settings.correlation_header.lower())
    if "request_id" in settings.error_fields and body.get("request_id") != header:
        yield f"request-id:{x.operation}", "medium", (f"request_id {str(body.get('request_id'))[:40]!r} differs "
                                                      f"from the {settings.correlation_header} header {header!r}")


def burst_findings(bursts: Iterable[Burst]) -> list[Finding]:
    """A quota must answer 429 with Retry-After: not before the limit, and not later than the limit plus refill."""
    findings = []
    for b in bursts:
        if b.error:
            continue  # no judgement on a cut burst: evaluate reports it as an error
        allowed = b.limit + int(b.elapsed_s * b.limit / b.window_s) + 1
        seen = ", ".join(f"{k}×{v}" for k, v in sorted(b.statuses.items()))
        if b.first_429 is None:
            problem = f"no 429 after {b.sent} requests against a quota of {b.limit} per {b.window_s:g} s ({seen})"
        elif b.first_429 <= b.limit:
            problem = f"429 already at request {b.first_429}, before the quota of {b.limit} ({seen})"
        elif b.first_429 > allowed:
            problem = f"429 only at request {b.first_429}, past the quota of {b.limit} plus refill ({allowed})"
        elif not (b.retry_after or "").strip().isdigit():
            problem = f"its 429 has no Retry-After in seconds (got {b.retry_after!r})"
        else:
            continue
        findings.append(_finding(f"rate-limit:{b.operation}", "high", f"{b.operation}: {problem}", b.operation,
                                 b.curl, 429 if b.first_429 else None, ""))
    return findings


def _finding(key: str, severity: str, title: str, operation: str, curl: str, status: int | None, excerpt: str,
             message: str = "") -> Finding:
    method, _, path = operation.partition(" ")
    evidence = f"HTTP {status}: {excerpt}" if status is not None else excerpt
    return Finding(key, severity, title, operation, message=message or f"Reproduce: {curl}\nAnswer: {evidence}",
                   instances=(Instance(path, method, "", (curl + "\n" + evidence)[:1000]),))


def _first_line(text: str) -> str:
    lines = [line.strip("- ").strip() for line in text.splitlines() if line.strip().startswith("- ")]
    return lines[0][:120] if lines else "see the message"


def evaluate_api(seen: Observed, settings: ApiSettings) -> Evaluation:
    """Findings from every source; error when an operation was not reached or the service did not answer."""
    names = [o.name for o in seen.operations]
    not_reached = [n for n in names if n not in seen.generated.tested]
    silent = [f"{x.operation} ({x.probe}): {x.error}" for x in seen.exchanges if x.status is None]
    silent += [f"{b.operation} (rate-limit burst): {b.error}" for b in seen.bursts if b.error]
    findings = (*generated_findings(seen.generated), *exchange_findings(seen.exchanges, settings, seen.https),
                *burst_findings(seen.bursts))
    answered = [x for x in seen.exchanges if x.status is not None]
    measurements = (
        Measurement("operations exercised", len(names) - len(not_reached), "", f"== {len(names)}", not not_reached),
        Measurement("generated test cases", seen.generated.cases, ""),
        Measurement("probe requests", len(seen.exchanges) + sum(b.sent for b in seen.bursts), ""),
        Measurement("failing findings", len(findings), "", "== 0", not findings),
    )
    views = (role_matrix(seen),)
    reasons = [f.title for f in findings]
    if answered and all(x.status >= 500 for x in answered if x.status is not None):
        reasons.insert(0, "The service answered 5xx to every probe: it is broken, not merely non-conformant.")
    if not_reached or silent:
        why = [*(f"Not reached within the budget ({settings.max_examples} examples, {settings.max_time_s:g} s; "
                 f"schemathesis stopped: {seen.generated.stop_reason}): {', '.join(not_reached)}."
                 for _ in [0] if not_reached),
               *silent[:10]]
        return Evaluation(Status.ERROR, "The API could not be exercised completely, so it cannot pass.",
                          tuple(why + reasons), measurements, findings, views=views)
    status = Status.FAIL if findings else Status.PASS
    return Evaluation(status, f"{len(findings)} problem(s) over {len(names)} operations "
                              f"({seen.generated.cases} generated cases, {len(seen.exchanges)} probes, "
                              f"{len(seen.bursts)} rate-limit bursts).",
                      tuple(reasons), measurements, findings, views=views)


def role_matrix(seen: Observed) -> Table:
    """One row per operation: the scopes it needs and what each token probe got."""
    probes = ("no-token", "expired-token", "foreign-key-token", "no-scope", "with-scope")
    statuses = {(x.operation, x.probe): str(x.status if x.status is not None else "no answer")
                for x in seen.exchanges}
    bursts = {b.operation: b for b in seen.bursts}
    rows, ok = [], []
    for op in seen.operations:
        burst = bursts.get(op.name)
        quota = (f"{op.rate_limit.limit}/{op.rate_limit.window_s:g}s: 429 at "
                 f"{burst.first_429 if burst and burst.first_429 else 'never'}") if op.rate_limit else "none"
        cells = [statuses.get((op.name, p), "–") for p in probes]
        rows.append((op.name, " ".join(op.scopes) or ("token" if op.secured else "anonymous"), *cells, quota))
        expected = {"no-token": "401", "expired-token": "401", "foreign-key-token": "401", "no-scope": "403"}
        ok.append(all(statuses.get((op.name, p), expected[p]) == expected[p] for p in expected) if op.secured
                  else None)
    return Table("Role matrix: who may call what (answers to each token)",
                 ("operation", "needs", *probes, "rate limit"), tuple(rows), tuple(ok))
