"""The hand-made part of the api check: auth, error bodies, headers and rate limits, probed over HTTP.

For each operation a schema-valid request (and, where the schema allows one, an invalid one)
is generated from the spec by schemathesis's generators; the probes send it with the token
under test and keep what came back (status, headers, a body excerpt) and a curl line that
reproduces it. No judgement here: ``policy`` judges the exchanges.
"""

from __future__ import annotations

import json
import math
import shlex
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

from pipeline.checks.api.spec import Operation
from pipeline.checks.api.tokens import Minter
from pipeline.redact import redact

EXCERPT = 400


@dataclass(frozen=True)
class Exchange:
    """One request of a probe and its answer (``status`` None: no answer, ``error`` says why)."""

    operation: str
    probe: str
    curl: str
    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    excerpt: str = ""
    body: Any = None
    error: str = ""


@dataclass(frozen=True)
class Burst:
    """A rate-limit burst: how many requests went out, where the first 429 came, how long it took."""

    operation: str
    limit: int
    window_s: float
    sent: int
    first_429: int | None
    retry_after: str | None
    elapsed_s: float
    statuses: dict[str, int]
    curl: str
    error: str = ""


@dataclass(frozen=True)
class Prepared:
    """A request ready to send (without its Authorization header)."""

    method: str
    url: str
    params: dict[str, Any]
    body: Any
    has_body: bool

    def payload(self) -> dict[str, Any]:
        """The body as requests sends it: JSON, or raw bytes (negative cases may be any bytes)."""
        if not self.has_body:
            return {}
        if isinstance(self.body, bytes | str):
            return {"data": self.body, "headers": {"Content-Type": "application/json"}}
        return {"json": self.body}


class Prober:
    """Sends the probes of every operation through one HTTP session."""

    def __init__(self, base_url: str, timeout_s: float, correlation: str) -> None:
        self.base_url, self.timeout_s, self.correlation = base_url.rstrip("/"), timeout_s, correlation
        self.session = requests.Session()

    def send(self, operation: Operation, probe: str, request: Prepared, token: str | None) -> Exchange:
        """Send one request; a transport error or a timeout is an exchange without status."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        curl = redact(_curl(request, headers))
        try:
            answer = _request(self.session, request, headers, self.timeout_s)
        except requests.Timeout:
            return Exchange(operation.name, probe, curl, None, error=f"no answer within {self.timeout_s:g} s")
        except requests.RequestException as exc:
            return Exchange(operation.name, probe, curl, None, error=f"no answer ({type(exc).__name__})")
        text = answer.content[:65536].decode("utf-8", "replace")
        return Exchange(operation.name, probe, curl, answer.status_code,
                        {k.lower(): v for k, v in answer.headers.items()}, redact(text[:EXCERPT]), _json(text))

    def burst(self, operation: Operation, request: Prepared, token: str, max_burst: int) -> Burst:
        """Send requests until the first 429, or well past the quota (refills included), or ``max_burst``."""
        quota = operation.rate_limit
        assert quota is not None
        started, sent = time.monotonic(), 0
        statuses: dict[str, int] = {}
        first: int | None = None
        retry_after: str | None = None
        error = ""
        headers = {"Authorization": f"Bearer {token}"}
        while sent < max_burst:
            elapsed = time.monotonic() - started
            if sent > quota.limit + math.ceil(elapsed * quota.limit / quota.window_s) + 1:
                break
            try:
                answer = _request(self.session, request, headers, self.timeout_s)
            except requests.RequestException as exc:
                error = f"the burst was cut short after {sent} requests: no answer ({type(exc).__name__})"
                break
            sent += 1
            statuses[str(answer.status_code)] = statuses.get(str(answer.status_code), 0) + 1
            if answer.status_code == 429:
                first, retry_after = sent, answer.headers.get("retry-after")
                break
        return Burst(operation.name, quota.limit, quota.window_s, sent, first, retry_after,
                     time.monotonic() - started, statuses, redact(_curl(request, headers)), error)


def prepare(schema: Any, operation: Operation, base_url: str, positive: bool) -> Prepared | None:
    """A generated request for the operation (None when the schema admits no invalid one)."""
    from schemathesis.core import NotSet
    from schemathesis.generation import GenerationMode

    mode = GenerationMode.POSITIVE if positive else GenerationMode.NEGATIVE
    try:
        strategy = schema[operation.path][operation.method.upper()].as_strategy(generation_mode=mode)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            case = strategy.example()
    except Exception:  # hypothesis finds no invalid input for some operations: that probe is skipped
        if positive:
            raise
        return None
    has_body = not isinstance(case.body, NotSet)
    return Prepared(operation.method.upper(), base_url.rstrip("/") + case.formatted_path, dict(case.query or {}),
                    case.body if has_body else None, has_body)


def auth_probes(operation: Operation, minter: Minter) -> Iterator[tuple[str, str | None]]:
    """(probe, token) pairs for a secured operation: each must be refused (401, or 403 for no-scope)."""
    yield "no-token", None
    yield "expired-token", minter.token(expired=True)
    yield "foreign-key-token", minter.token(foreign=True)
    if operation.scopes:
        yield "no-scope", minter.token(scopes=())


def fresh_subject() -> str:
    """A subject nobody else uses, so a burst counts against a quota of its own."""
    return f"readiness-burst-{uuid.uuid4().hex[:12]}"


def _request(session: requests.Session, request: Prepared, headers: dict[str, str],
             timeout_s: float) -> requests.Response:
    payload = request.payload()
    extra_headers = payload.pop("headers", {})
    return session.request(request.method, request.url, params=request.params, headers={**headers, **extra_headers},
                           timeout=timeout_s, allow_redirects=False, **payload)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _curl(request: Prepared, headers: dict[str, str]) -> str:
    url = requests.Request("GET", request.url, params=request.params).prepare().url or request.url
    parts = ["curl", "-X", request.method]
    for name, value in headers.items():
        parts += ["-H", f"{name}: {value}"]
    if request.has_body:
        body = request.body if isinstance(request.body, str) else (
            request.body.decode("utf-8", "replace") if isinstance(request.body, bytes)
            else json.dumps(request.body, default=repr))
        parts += ["-H", "Content-Type: application/json", "-d", body]
    return " ".join(shlex.quote(p) for p in [*parts, url])
