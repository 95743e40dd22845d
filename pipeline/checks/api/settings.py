"""``checks.api``: every key of the api check, with its default and meaning. The defaults live here."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.checks.interface import CheckSettings

_CLOSED = ConfigDict(frozen=True, extra="forbid", strict=True)
Phase = Literal["examples", "coverage", "fuzzing", "stateful"]


class RateLimit(BaseModel):
    """A quota: ``limit`` requests per ``window_s`` seconds (what ``x-rate-limit`` says in the spec)."""

    model_config = _CLOSED

    limit: Annotated[int, Field(ge=1)]
    window_s: Annotated[float, Field(gt=0, allow_inf_nan=False)]


class ApiSettings(CheckSettings):
    """The api check's configuration."""

    spec: str = Field("", description="the OpenAPI spec file the running service is driven from")
    base_url: str = Field("", description="the service (default: READINESS_BASE_URL)")
    max_examples: int = Field(10, ge=1, le=1000, json_schema_extra={"stricter": "higher"},
        description="schemathesis: test cases per operation and phase")
    max_time_s: float = Field(60, gt=0, le=3600, allow_inf_nan=False,
                              description="schemathesis: ceiling of the generated run (past it: error)")
    phases: tuple[Phase, ...] = Field(("examples", "fuzzing"), min_length=1,
                                      json_schema_extra={"stricter": "more"},
        description="schemathesis phases (examples, coverage, fuzzing, stateful)")
    workers: int = Field(2, ge=1, le=16, description="schemathesis: concurrent workers")
    seed: int = Field(1, ge=0, description="schemathesis: random seed (the same seed, the same cases)")
    request_timeout_s: float = Field(5, gt=0, le=120, allow_inf_nan=False,
                                     description="one request without an answer in this time: the service hangs")
    token_env: str = Field("READINESS_API_TOKEN",
                           description="environment variable holding a valid bearer token with every scope")
    jwt_secret_env: str = Field(
        "JWT_SECRET", description="environment variable holding the HMAC secret the service verifies tokens "
                                  "with; the check signs expired and scope-less tokens with it (never logged)")
    scope_claim: str = Field("scope", description="the JWT claim holding the space-separated scopes or roles")
    roles: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="operation ('POST /orders') -> scopes it needs, where the spec's "
                                          "security requirement names none")
    rate_limits: dict[str, RateLimit] = Field(
        default_factory=dict, description="operation -> quota, where the spec has no x-rate-limit")
    max_burst: int = Field(2000, ge=1, description="at most this many requests in one rate-limit burst")
    correlation_header: str = Field("x-request-id", description="the response header request_id must equal")
    error_fields: tuple[str, ...] = Field(("code", "message", "details", "timestamp", "request_id"),
                                          json_schema_extra={"stricter": "more"},
        description="fields every 4xx/5xx body must have")
    security_headers: tuple[str, ...] = Field(
        ("x-content-type-options", "content-security-policy|x-frame-options"),
        json_schema_extra={"stricter": "more"},
        description="headers every response must carry ('a|b': either); strict-transport-security on https")
