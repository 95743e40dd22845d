"""The HTTP API: customers, orders and order lines, plus /health, /ready and /metrics.

Reads are public (a bearer token, when sent, must be valid); writes need a token
with the ``orders:write`` scope and are rate limited per token subject.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path as PathLib
from typing import Annotated, Any

import psycopg
from fastapi import Depends, FastAPI, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from orders_service import db
from orders_service.auth import check_optional_token, require_writer
from orders_service.errors import ApiError, error_body, install_error_handlers
from orders_service.models import (
    Customer,
    CustomerIn,
    CustomerPage,
    ErrorBody,
    Health,
    Order,
    OrderIn,
    OrderPage,
    OrderStatus,
    OrderWithLines,
)
from orders_service.observability import Metrics, ObservabilityMiddleware, configure_logging
from orders_service.ratelimit import RateLimiter, SharedRateLimiter
from orders_service.settings import Settings

Limit = Annotated[int, Query(ge=1, le=100, description="Page size.")]
# Ids are PostgreSQL bigints: a larger number is refused as invalid (422), never sent to the database.
MAX_ID = 2**63 - 1
Id = Annotated[int, Path(ge=1, le=MAX_ID)]


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    meaning = {400: "The request is malformed (e.g. the body is not JSON).",
               401: "The bearer token is missing, expired or not valid.",
               403: "The token lacks the orders:write scope.",
               404: "No such resource.",
               409: "The resource exists already.",
               422: "The request does not match the schema.",
               429: "Too many write requests; see Retry-After.",
               500: "An unexpected error on the server."}
    return {s: {"model": ErrorBody, "description": meaning[s]} for s in statuses}


READ_ERRORS = _errors(400, 401, 422, 500)
NEWEST_ORDERS = ("SELECT id, customer_id, status, total_cents, created_at FROM orders "
                 "ORDER BY id DESC LIMIT %(limit)s")


def sla(p95_ms: int) -> dict[str, Any]:
    """The latency objective of an operation, read by the readiness gate (openapi and k6 checks)."""
    return {"x-sla": {"p95_ms": p95_ms, "error_rate": 0.001}}


# Reads are public; a token, when sent, must be valid (the empty requirement makes the bearer optional).
PUBLIC_READ: dict[str, Any] = {"security": [{}]}


def write_extras(p95_ms: int, settings: Settings) -> dict[str, Any]:
    """A write's SLA and its rate limit per token subject (checked by the gate's api check)."""
    return {**sla(p95_ms), "x-rate-limit": {"limit": settings.writes_per_minute, "window_s": 60,
                                            "key": "token subject"}}


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service, its pool, middleware and routes; settings from the environment unless given."""
    settings = settings or Settings.from_env()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging()
        # wait=False: the service starts even when the database is down; /ready reports it.
        await app.state.pool.open(wait=False)
        # Every worker keeps its pool gauges current, whichever worker answers /metrics.
        refresher = asyncio.create_task(_observe_pool(app))
        try:
            yield
        finally:
            refresher.cancel()
            await app.state.pool.close()
            metrics.worker_exited()

    app = FastAPI(title="orders-service", version="1.0.0", lifespan=lifespan,
                  description="Customers, orders and order lines. The example service of the readiness gate.")
    app.state.settings = settings
    app.state.pool = db.create_pool(settings.database_url, settings.pool_min, settings.pool_max)
    # TEST_FAULT=no-rate-limit (test-only): a limit nobody reaches, to prove the gate notices.
    unlimited = settings.test_fault == "no-rate-limit"
    per_minute = 10**9 if unlimited else settings.writes_per_minute
    app.state.limiter = (SharedRateLimiter(per_minute, PathLib(settings.state_dir) / "ratelimit.sqlite")
                         if settings.state_dir else RateLimiter(per_minute))
    app.state.metrics = metrics
    if settings.artificial_delay_ms:
        app.add_middleware(DelayMiddleware, delay_s=settings.artificial_delay_ms / 1000)
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    install_error_handlers(app)
    _add_operations_routes(app)
    _add_customer_routes(app)
    _add_order_routes(app)
    _initialise_error_series(app, metrics)
    return app


def _initialise_error_series(app: FastAPI, metrics: Metrics) -> None:
    """A labelled counter shows nothing before its first event; start every route's 5xx count at 0 so
    that dashboards and alerts see the series (and its labels) from the first scrape."""
    for route in app.routes:
        for method in sorted(getattr(route, "methods", None) or ()):
            if method != "HEAD":
                metrics.errors.labels(method, getattr(route, "path", "unmatched"), "500")


class DelayMiddleware:
    """ARTIFICIAL_DELAY_MS: slows every request except the operational ones (demonstrates the gate)."""

    def __init__(self, app: Any, delay_s: float) -> None:
        self.app = app
        self.delay_s = delay_s

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Wait ``delay_s`` (not on /health, /ready, /metrics), then pass the request on."""
        if scope["type"] == "http" and scope["path"] not in ("/health", "/ready", "/metrics"):
            await asyncio.sleep(self.delay_s)
        await self.app(scope, receive, send)


def _add_operations_routes(app: FastAPI) -> None:
    @app.get("/health", include_in_schema=False)
    async def health() -> Health:
        """Liveness: the process answers. No dependency is consulted."""
        return Health(status="ok")

    @app.get("/ready", include_in_schema=False)
    async def ready(request: Request) -> JSONResponse:
        """Readiness: the database answers within the timeout."""
        try:
            await asyncio.wait_for(_ping(request.app), timeout=request.app.state.settings.ready_timeout_s)
        except (TimeoutError, psycopg.Error, OSError) as exc:
            body = error_body(request, "not_ready", "The database does not answer.", type(exc).__name__)
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        metrics: Metrics = request.app.state.metrics
        metrics.observe_pool(request.app.state.pool.get_stats())
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


async def _observe_pool(app: FastAPI, every_s: float = 1.0) -> None:
    """Set the pool gauges from the pool's statistics, every ``every_s`` until cancelled."""
    while True:
        app.state.metrics.observe_pool(app.state.pool.get_stats())
        await asyncio.sleep(every_s)


async def _ping(app: FastAPI) -> None:
    async with app.state.pool.connection(timeout=app.state.settings.ready_timeout_s) as conn:
        await conn.execute("SELECT 1")


def _add_customer_routes(app: FastAPI) -> None:
    @app.get("/customers", responses=READ_ERRORS, openapi_extra={**sla(100), **PUBLIC_READ},
             operation_id="list_customers", dependencies=[Depends(check_optional_token)])
    async def list_customers(request: Request, limit: Limit = 20,
                             after_id: Annotated[int, Query(ge=0, le=MAX_ID)] = 0) -> CustomerPage:
        """Customers by id, keyset-paginated with ``after_id``."""
        rows = await db.fetch_all(request.app.state.pool,
                                  "SELECT id, email, name, created_at FROM customers WHERE id > %(after_id)s "
                                  "ORDER BY id LIMIT %(limit)s", {"after_id": after_id, "limit": limit})
        return CustomerPage(items=[Customer(**r) for r in rows], limit=limit)

    @app.get("/customers/{customer_id}", responses=_errors(400, 401, 404, 422, 500),
             openapi_extra={**sla(100), **PUBLIC_READ}, operation_id="get_customer",
             dependencies=[Depends(check_optional_token)])
    async def get_customer(request: Request, customer_id: Id) -> Customer:
        row = await db.fetch_one(request.app.state.pool,
                                 "SELECT id, email, name, created_at FROM customers WHERE id = %(id)s",
                                 {"id": customer_id})
        if row is None:
            raise ApiError(404, "not_found", f"No customer {customer_id}.")
        return Customer(**row)

    @app.post("/customers", status_code=201, responses=_errors(400, 401, 403, 409, 422, 429, 500),
              openapi_extra=write_extras(200, app.state.settings), operation_id="create_customer")
    async def create_customer(request: Request, body: CustomerIn,
                              subject: Annotated[str, Depends(require_writer)]) -> Customer:
        request.app.state.limiter.take(subject)
        try:
            row = await db.fetch_one(request.app.state.pool,
                                     "INSERT INTO customers (email, name) VALUES (%(email)s, %(name)s) "
                                     "RETURNING id, email, name, created_at", body.model_dump())
        except psycopg.errors.UniqueViolation:
            raise ApiError(409, "conflict", "A customer with this email exists.") from None
        assert row is not None
        return Customer(**row)


def _add_order_routes(app: FastAPI) -> None:
    @app.get("/orders", responses=READ_ERRORS, openapi_extra={**sla(150), **PUBLIC_READ},
             operation_id="list_orders", dependencies=[Depends(check_optional_token)])
    async def list_orders(request: Request, limit: Limit = 20,
                          customer_id: Annotated[int | None, Query(gt=0, le=MAX_ID)] = None,
                          status: OrderStatus | None = None) -> OrderPage:
        """The newest orders of a customer, in a status, or of all (by id, the primary key's order)."""
        if request.app.state.settings.test_fault == "leak-500":
            raise RuntimeError("TEST_FAULT=leak-500: an injected crash")
        params: dict[str, Any]
        if customer_id is not None:
            sql, params = db.query("orders_by_customer"), {"customer_id": customer_id, "limit": limit}
        elif status is not None:
            sql, params = db.query("orders_by_status"), {"status": status, "limit": limit}
        else:  # every parameter is optional in the spec, so no filter is a valid request too
            sql, params = NEWEST_ORDERS, {"limit": limit}
        rows = await db.fetch_all(request.app.state.pool, sql, params)
        return OrderPage(items=[Order(**r) for r in rows], limit=limit)

    @app.get("/orders/{order_id}", responses=_errors(400, 401, 404, 422, 500),
             openapi_extra={**sla(100), **PUBLIC_READ}, operation_id="get_order",
             dependencies=[Depends(check_optional_token)])
    async def get_order(request: Request, order_id: Id) -> OrderWithLines:
        pool = request.app.state.pool
        order = await db.fetch_one(pool, "SELECT id, customer_id, status, total_cents, created_at "
                                         "FROM orders WHERE id = %(id)s", {"id": order_id})
        if order is None:
            raise ApiError(404, "not_found", f"No order {order_id}.")
        lines = await db.fetch_all(pool, db.query("order_lines"), {"order_id": order_id})
        return OrderWithLines(**order, lines=lines)

    @app.post("/orders", status_code=201, responses=_errors(400, 401, 403, 404, 422, 429, 500),
              openapi_extra=write_extras(200, app.state.settings), operation_id="create_order")
    async def create_order(request: Request, body: OrderIn,
                           subject: Annotated[str, Depends(require_writer)]) -> OrderWithLines:
        request.app.state.limiter.take(subject)
        total = sum(line.quantity * line.unit_price_cents for line in body.lines)
        async with request.app.state.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            try:
                await cur.execute("INSERT INTO orders (customer_id, status, total_cents) "
                                  "VALUES (%(customer_id)s, 'pending', %(total)s) "
                                  "RETURNING id, customer_id, status, total_cents, created_at",
                                  {"customer_id": body.customer_id, "total": total})
            except psycopg.errors.ForeignKeyViolation:
                raise ApiError(404, "not_found", f"No customer {body.customer_id}.") from None
            order = await cur.fetchone()
            assert order is not None
            await cur.executemany("INSERT INTO order_lines (order_id, sku, quantity, unit_price_cents) "
                                  "VALUES (%(order_id)s, %(sku)s, %(quantity)s, %(unit_price_cents)s)",
                                  [{"order_id": order["id"], **line.model_dump()} for line in body.lines])
            await cur.execute(db.query("order_lines"), {"order_id": order["id"]})
            lines = await cur.fetchall()
        return OrderWithLines(**order, lines=lines)
