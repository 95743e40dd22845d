"""JWT bearer tokens (HS256, expiry required) for the write endpoints."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import jwt
from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from orders_service.errors import ApiError
from orders_service.settings import Settings

WRITE_SCOPE = "orders:write"


def issue_token(secret: str, subject: str, audience: str, ttl_s: int = 900,
                scope: str = WRITE_SCOPE) -> str:
    """A signed token; used by tests, the load test's setup and operators' tooling."""
    now = int(time.time())
    claims = {"sub": subject, "aud": audience, "iat": now, "exp": now + ttl_s, "scope": scope}
    return jwt.encode(claims, secret, algorithm="HS256")


# Declares the scheme in the OpenAPI spec; auto_error=False so that we answer 401 ourselves
# with the uniform error body.
bearer = HTTPBearer(auto_error=False, description="JWT (HS256) with an expiry; writes need orders:write.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
# Writes declare the scope they need, so the spec's security requirement names it (OpenAPI 3.1 role names).
WriterCredentials = Annotated[HTTPAuthorizationCredentials | None, Security(bearer, scopes=[WRITE_SCOPE])]


def require_writer(request: Request, credentials: WriterCredentials) -> str:
    """The subject of a valid bearer token (else 401) with the write scope (else 403)."""
    if request.app.state.settings.test_fault == "open-write" and request.url.path == "/customers":
        return "anonymous"  # TEST_FAULT=open-write: the gate's tests prove a forgotten check is caught
    if credentials is None:
        raise _unauthorized("A bearer token is required.")
    claims = _decode(request, credentials.credentials)
    if WRITE_SCOPE not in str(claims.get("scope", "")).split():
        raise ApiError(403, "forbidden", "The token lacks the orders:write scope.")
    return str(claims["sub"])


def check_optional_token(request: Request, credentials: Credentials) -> None:
    """Reads are public, but a token that is sent must be valid (401 otherwise)."""
    if credentials is not None:
        _decode(request, credentials.credentials)
    elif "authorization" in request.headers:
        raise _unauthorized("Only bearer tokens are accepted.")


def _decode(request: Request, token: str) -> dict[str, object]:
    settings = request.app.state.settings
    try:
        claims: dict[str, object] = jwt.decode(token, settings.jwt_secret, algorithms=["HS256"],
                                               audience=settings.jwt_audience,
                                               options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise _unauthorized("The token has expired.") from None
    except jwt.InvalidTokenError:
        raise _unauthorized("The token is not valid.") from None
    return claims


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def main() -> None:
    """``python -m orders_service.auth [TTL_S]``: print a write token signed with $JWT_SECRET."""
    settings = Settings.from_env()
    ttl_s = int(sys.argv[1]) if len(sys.argv) > 1 else 3600
    print(issue_token(settings.jwt_secret, "readiness-gate", settings.jwt_audience, ttl_s))


if __name__ == "__main__":
    main()
