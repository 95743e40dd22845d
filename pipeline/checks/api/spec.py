"""The operations of the spec as the api check needs them: security requirements, scopes, rate limits."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import evidence
from pipeline.checks.api.settings import ApiSettings, RateLimit
from pipeline.checks.openapi.document import load
from pipeline.errors import ArtifactMissing, ParseError

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@dataclass(frozen=True)
class Operation:
    """One operation: ``POST /orders``, whether it needs a token, the scopes it needs, its quota."""

    method: str
    path: str
    secured: bool
    scopes: tuple[str, ...] = ()
    rate_limit: RateLimit | None = None

    @property
    def name(self) -> str:
        """``POST /orders``: how findings and tables name it."""
        return f"{self.method.upper()} {self.path}"


def read_spec(path: Path) -> dict[str, Any]:
    """The spec document; ArtifactMissing or ParseError when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactMissing(f"the spec {path} cannot be read: {exc}",
                              "Set checks.api.spec to the committed OpenAPI file.") from None
    document = load(text, str(path))
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict) or not document["paths"]:
        raise ParseError(path, "paths", "the spec lists no operation: nothing to drive")
    return document


def operations(document: Mapping[str, Any], source: str, settings: ApiSettings) -> tuple[Operation, ...]:
    """Every operation with its security (operation-level, else the document's) and its quota."""
    default_security = document.get("security", [])
    found = []
    for method, path, op in each_operation(document, source):
        name = f"{method.upper()} {path}"
        secured, scopes = _security(op.get("security", default_security), source, name)
        scopes = settings.roles.get(name, scopes)
        found.append(Operation(method, path, secured, tuple(scopes), _quota(op, source, name, settings)))
    return tuple(found)


def each_operation(document: Mapping[str, Any], source: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation object) for every operation of the spec, each checked to be an object."""
    for path, item in evidence.mapping(document.get("paths"), source, "paths").items():
        for method, op in evidence.mapping(item, source, f"paths.{path}").items():
            if method in METHODS:
                yield method, path, evidence.mapping(op, source, f"paths.{path}.{method}")


def _security(requirements: Any, source: str, name: str) -> tuple[bool, tuple[str, ...]]:
    """(a token is required, the scopes of the least demanding alternative)."""
    alternatives = [evidence.mapping(r, source, f"{name}: security") for r in
                    evidence.sequence(requirements, source, f"{name}: security", optional=True)]
    if not alternatives or any(not a for a in alternatives):  # none, or an empty alternative: anonymous is fine
        return False, ()
    scopes = min((tuple(s for v in a.values() for s in evidence.texts(v, source, f"{name}: security"))
                  for a in alternatives), key=len)
    return True, scopes


def _quota(op: Mapping[str, Any], source: str, name: str, settings: ApiSettings) -> RateLimit | None:
    if name in settings.rate_limits:
        return settings.rate_limits[name]
    declared = op.get("x-rate-limit")
    if declared is None:
        return None
    declared = evidence.mapping(declared, source, f"{name}: x-rate-limit")
    limit = evidence.count(declared.get("limit"), source, f"{name}: x-rate-limit.limit")
    window = evidence.number(declared.get("window_s"), source, f"{name}: x-rate-limit.window_s", minimum=0.001)
    if limit < 1:
        raise ParseError(source, f"{name}: x-rate-limit.limit", "is 0: a quota of nothing cannot be tested")
    return RateLimit(limit=limit, window_s=window)
