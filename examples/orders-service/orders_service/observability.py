"""Request IDs, JSON logs, security headers and Prometheus metrics, as one ASGI middleware.

Metrics are labelled by route *template* (``/orders/{order_id}``), never by the raw
path, so that a scan over many IDs cannot blow up the series count.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SECURITY_HEADERS = [
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"geolocation=(), camera=(), microphone=()"),
]
# A caller's X-Request-ID is kept only when it looks like an ID (it ends up in logs).
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class Metrics:
    """The service's metric families, on their own registry (tests create several apps).

    With several worker processes (``orders_service.serve``), prometheus_client's multiprocess
    mode is on (``PROMETHEUS_MULTIPROC_DIR``): every worker writes its values to files there and
    ``/metrics``, whichever worker answers it, adds up all of them. Gauges then sum the live
    workers (``livesum``); a worker that exits is marked dead (``worker_exited``).
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_duration = Histogram(
            "http_request_duration_seconds", "HTTP request duration by route template.",
            ["method", "route", "status"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0))
        self.errors = Counter(
            "http_request_errors_total", "Responses with status >= 500 (server errors).",
            ["method", "route", "status"], registry=self.registry)
        self.in_flight = self._live_gauge("http_requests_in_flight", "Requests being served.")
        self.pool_size = self._live_gauge("db_pool_connections", "Connections open in the pool.")
        self.pool_available = self._live_gauge("db_pool_connections_available", "Idle connections in the pool.")
        self.pool_waiting = self._live_gauge("db_pool_requests_waiting", "Requests waiting for a connection.")
        self.pool_max = self._live_gauge("db_pool_connections_max", "Pool size limit.")

    def _live_gauge(self, name: str, documentation: str) -> Gauge:
        """A gauge that, across worker processes, is the sum over the live ones."""
        return Gauge(name, documentation, registry=self.registry, multiprocess_mode="livesum")

    def exposition(self) -> bytes:
        """The text /metrics serves: this registry, or every worker's values in multiprocess mode."""
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]  # the library has no hints here
        return generate_latest(merged)

    @staticmethod
    def worker_exited() -> None:
        """Drop this worker's live gauges (multiprocess mode), so that its last values stop counting."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

    def observe_pool(self, stats: dict[str, int]) -> None:
        """Set the pool gauges from the pool's statistics."""
        self.pool_size.set(stats.get("pool_size", 0))
        self.pool_available.set(stats.get("pool_available", 0))
        self.pool_waiting.set(stats.get("requests_waiting", 0))
        self.pool_max.set(stats.get("pool_max", 0))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request ID when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("request_id", "method", "route", "status", "duration_ms"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: int = logging.INFO) -> None:
    """Send the service's logs to stderr as JSON lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("orders_service")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


class ObservabilityMiddleware:
    """Gives each request an ID and records its duration, status and log line."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.log = logging.getLogger("orders_service.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request with its ID and the security headers on the answer; count, time and log it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(SECURITY_HEADERS)
                message["headers"] = headers
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            self.metrics.in_flight.dec()
            self._record(scope, request_id, status, time.perf_counter() - started)

    def _record(self, scope: Scope, request_id: str, status: int, elapsed_s: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        method = scope["method"]
        self.metrics.request_duration.labels(method, route, str(status)).observe(elapsed_s)
        if status >= 500:
            self.metrics.errors.labels(method, route, str(status)).inc()
        self.log.info("request", extra={"request_id": request_id, "method": method, "route": route,
                                        "status": status, "duration_ms": round(elapsed_s * 1000, 2)})


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _SAFE_REQUEST_ID.match(candidate):
                return candidate
    return uuid.uuid4().hex
