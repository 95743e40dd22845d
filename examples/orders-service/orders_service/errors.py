"""One error body for every failure: code, message, details, timestamp, request_id."""

from __future__ import annotations

import logging
import traceback
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from orders_service.observability import SECURITY_HEADERS

log = logging.getLogger("orders_service")


class ApiError(Exception):
    """An error the API reports on purpose, with its HTTP status."""

    def __init__(self, status: int, code: str, message: str, details: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details
        self.headers = headers


def error_body(request: Request, code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The uniform error body, stamped with the time and the request's ID."""
    return {
        "code": code,
        "message": message,
        "details": details,
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "request_id": getattr(request.state, "request_id", None),
    }


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path (a path may have one route per method)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    """Make every failure (raised, invalid request, unknown route, crash) answer with the uniform body."""
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(request, exc.code, exc.message, exc.details),
                            status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Only location, message and type: echoing the rejected input back would reflect it.
        details = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            return JSONResponse(error_body(request, "bad_request", "The body is not valid JSON.", details),
                                status_code=400)
        return JSONResponse(error_body(request, "validation_failed", "The request is not valid.", details),
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # RFC 9110: Allow lists every method of the path, not just one route's
            headers["Allow"] = ", ".join(allowed_methods(request))
        return JSONResponse(error_body(request, code, str(exc.detail)), status_code=exc.status_code,
                            headers=headers or None)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        if request.app.state.settings.test_fault == "leak-500":  # test-only: the gate must catch this leak
            return PlainTextResponse("".join(traceback.format_exception(exc)), status_code=500)
        request_id = getattr(request.state, "request_id", None)
        log.exception("unhandled error", extra={"request_id": request_id})
        # This answer leaves through the outermost middleware, past ours: add its headers here.
        headers = {name.decode(): value.decode() for name, value in SECURITY_HEADERS}
        return JSONResponse(error_body(request, "internal_error", "Something went wrong on our side."),
                            status_code=500, headers={**headers, "x-request-id": request_id or ""})
