"""The bearer tokens the auth probes send: derived from the valid token the gate was given.

Expired and scope-less tokens are signed with the service's own HMAC secret (named by
``jwt_secret_env``), so that they fail for the one reason under test; the foreign token is
signed with a random key. Every token is registered as a secret, so no report shows it.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from pipeline.errors import ArtifactMissing
from pipeline.redact import register_secret

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")


class Minter:
    """Makes variants of a valid token: expired, signed by another key, with other scopes or subject."""

    def __init__(self, valid: str, secret: str, scope_claim: str) -> None:
        import jwt  # the api extra; imported here so that the spec reader works without it

        try:
            header = jwt.get_unverified_header(valid)
            self.claims: dict[str, Any] = jwt.decode(valid, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise ArtifactMissing(f"the API token is not a JWT ({type(exc).__name__})",
                                  "The auth probes derive their tokens from it.") from None
        self.algorithm = str(header.get("alg", ""))
        if self.algorithm not in HMAC_ALGORITHMS:
            raise ArtifactMissing(f"the API token is signed with {self.algorithm!r}; the check can sign only "
                                  f"{', '.join(HMAC_ALGORITHMS)} tokens")
        self.secret, self.scope_claim = secret, scope_claim

    def token(self, *, scopes: tuple[str, ...] | None = None, subject: str | None = None,
              expired: bool = False, foreign: bool = False) -> str:
        """A variant of the valid token, registered as a secret."""
        import jwt

        now = int(time.time())
        claims = {**self.claims, "iat": now - 7200 if expired else now, "exp": now - 3600 if expired else now + 900}
        if scopes is not None:
            claims[self.scope_claim] = " ".join(scopes)
        if subject is not None:
            claims["sub"] = subject
        key = secrets.token_urlsafe(32) if foreign else self.secret
        return register_secret(jwt.encode(claims, key, algorithm=self.algorithm))


def minter(env: dict[str, str], token_env: str, secret_env: str, scope_claim: str) -> Minter:
    """A minter from the environment; ArtifactMissing says which variable is missing."""
    valid, secret = env.get(token_env, ""), env.get(secret_env, "")
    if not valid:
        raise ArtifactMissing(f"no API token in ${token_env}",
                              "Configure service.start.token_command, or export a valid token.")
    if not secret:
        raise ArtifactMissing(f"no signing secret in ${secret_env}, so expired and scope-less tokens cannot be made",
                              "List it in service.start.generated_secrets (the gate hands it to the checks), "
                              "or export it; set checks.api.jwt_secret_env to its name.")
    register_secret(secret)
    return Minter(valid, secret, scope_claim)
