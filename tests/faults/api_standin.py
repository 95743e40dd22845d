"""STAND-IN: a tiny API that keeps every promise the api check tests, served by the matrix's TargetService.

Its own spec (``API_SPEC``): ``GET /things`` (anonymous) and ``POST /things`` (a JWT with
``things:write``, a quota of ``QUOTA`` writes a minute per subject). Every answer carries the
security headers and ``X-Request-ID``; every error has the standard body with that id. The
cells damage the world around it (a hanging route, a crashed schemathesis, a damaged report).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

QUOTA = 8  # writes per minute per subject: a burst is 9 requests
API_SECRET = secrets.token_urlsafe(32)
SCOPE = "things:write"
_ERROR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
API_SPEC = {
    "openapi": "3.0.3", "info": {"title": "matrix api", "version": "1"},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        "schemas": {
            "Error": {"type": "object", "required": ["code", "message", "details", "timestamp", "request_id"],
                      "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {},
                                     "timestamp": {"type": "string"}, "request_id": {"type": "string"}}},
            "Thing": {"type": "object", "required": ["id", "name"],
                      "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}}},
    "paths": {"/things": {
        "get": {"operationId": "list_things", "x-sla": {"p95_ms": 200},
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
                    "type": "array", "items": {"$ref": "#/components/schemas/Thing"}}}}}}},
        "post": {"operationId": "create_thing", "security": [{"bearer": [SCOPE]}], "x-sla": {"p95_ms": 300},
                 "x-rate-limit": {"limit": QUOTA, "window_s": 60},
                 "requestBody": {"required": True, "content": {"application/json": {"schema": {
                     "type": "object", "required": ["name"], "additionalProperties": False,
                     "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 20}}}}}},
                 "responses": {"201": {"description": "created", "content": {"application/json": {"schema": {
                     "$ref": "#/components/schemas/Thing"}}}},
                     "400": _ERROR, "401": _ERROR, "403": _ERROR, "429": {**_ERROR, "headers": {
                         "Retry-After": {"schema": {"type": "integer"}}}}}}}},
}

Answer = tuple[int, dict[str, str], bytes]


def api_token(subject: str = "matrix") -> str:
    """A valid token with every scope, signed with the stand-in's secret."""
    import jwt

    now = int(time.time())
    return jwt.encode({"sub": subject, "scope": SCOPE, "iat": now, "exp": now + 3600}, API_SECRET, "HS256")


def api_env() -> dict[str, str]:
    """What the gate's environment needs to drive the stand-in (the api check's defaults)."""
    return {"READINESS_API_TOKEN": api_token(), "JWT_SECRET": API_SECRET}


class ThingsApi:
    """The API's state: one quota per (cell, subject); the cells' hooks (run once, on the first probe)."""

    def __init__(self) -> None:
        self.writes: dict[tuple[str, str], list[float]] = {}
        self.on_probe: dict[str, Callable[[], None]] = {}
        self._lock = threading.Lock()

    def answer(self, cell: str, method: str, headers: dict[str, str], body: bytes) -> Answer:
        """The answer to one request of ``cell``."""
        if not headers.get("user-agent", "").startswith("schemathesis"):
            hook = self.on_probe.pop(cell, None)
            if hook is not None:  # schemathesis has finished (the probes follow it): damage its report now
                hook()
        rid = headers.get("x-request-id") or uuid.uuid4().hex
        if method == "GET":
            return _answer(200, rid, [{"id": 1, "name": "one"}])
        if method != "POST":
            return _error(405, rid, "method not allowed", {"Allow": "GET, POST"})
        refused = _auth(headers.get("authorization", ""))
        if isinstance(refused, int):
            return _error(refused, rid, "not authorised" if refused == 401 else "scope missing")
        try:
            thing = json.loads(body)
        except ValueError:
            thing = None
        if not (isinstance(thing, dict) and set(thing) == {"name"} and isinstance(thing["name"], str)
                and 1 <= len(thing["name"]) <= 20):
            return _error(400, rid, "invalid body")
        if not self._within_quota(cell, refused):
            return _error(429, rid, "too many writes", {"Retry-After": "60"})
        return _answer(201, rid, {"id": 2, "name": thing["name"]})

    def _within_quota(self, cell: str, subject: str) -> bool:
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self.writes.get((cell, subject), []) if now - t < 60]
            self.writes[(cell, subject)] = [*recent, now]
            return len(recent) < QUOTA


def _auth(authorization: str) -> int | str:
    """The token's subject, or the status refusing it (401 invalid, 403 without the scope)."""
    import jwt

    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return 401
    try:
        claims = jwt.decode(token, API_SECRET, algorithms=["HS256"])
    except jwt.PyJWTError:
        return 401
    if SCOPE not in str(claims.get("scope", "")).split():
        return 403
    return str(claims.get("sub", ""))


def _answer(status: int, rid: str, document: Any, extra: dict[str, str] | None = None) -> Answer:
    headers = {"Content-Type": "application/json", "X-Request-ID": rid, "X-Content-Type-Options": "nosniff",
               "X-Frame-Options": "DENY", **(extra or {})}
    return status, headers, json.dumps(document).encode()


def _error(status: int, rid: str, message: str, extra: dict[str, str] | None = None) -> Answer:
    body = {"code": str(status), "message": message, "details": [], "request_id": rid,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return _answer(status, rid, body, extra)


def crash_schemathesis(cell: str) -> None:
    """Kill the cell's schemathesis run (found by its command line, which names the cell's URL) with SIGSEGV."""
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if b"schemathesis.cli" in argv and any(f"/c/{cell}".encode() in a for a in argv):
                os.kill(int(entry.name), signal.SIGSEGV)
