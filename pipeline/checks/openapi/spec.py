"""Read OpenAPI documents: load the text, validate it, list the operations, compare two documents.

A spec file cut at a line still parses as YAML; comparing its operations with those the
running service serves shows what it lacks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import requests

from pipeline.checks.openapi.document import METHODS
from pipeline.errors import CheckError, ParseError

FETCH_TIMEOUT_S = 15
_PARAMETER = re.compile(r"\{[^}/]*\}")


@dataclass(frozen=True)
class SpecError:
    """One problem openapi-spec-validator found: where (a JSON pointer into the document) and what."""

    pointer: str  # "#/paths/~1orders/get/responses/200" (RFC 6901, as in a $ref)
    message: str


@dataclass(frozen=True)
class Operation:
    """One operation of a spec: what the policy needs from it."""

    method: str
    path: str
    responses: frozenset[str]
    sla: Any

    @property
    def key(self) -> str:
        """``GET /orders/{}``: the same operation whatever its parameters are called."""
        return f"{self.method} {_PARAMETER.sub('{}', self.path)}"


def fetch(url: str, what: str) -> str:
    """The body served at ``url``; a CheckError says what to do when the service does not answer."""
    try:
        answer = requests.get(url, timeout=FETCH_TIMEOUT_S)
        answer.raise_for_status()
    except requests.RequestException as exc:
        raise CheckError(f"the {what} at {url} cannot be fetched: {type(exc).__name__}",
                         "Is the service running? Or point checks.openapi.spec at the committed file."
                         ) from None
    return answer.text


def validate(spec: dict[str, Any], version: str, source: str) -> tuple[SpecError, ...]:
    """openapi-spec-validator's findings; ParseError when it cannot process the document at all."""
    # Imported here: 90 ms that every `readiness` process would pay when the registry loads the checks.
    from openapi_spec_validator.validation import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

    validator = OpenAPIV31SpecValidator if version.startswith("3.1") else OpenAPIV30SpecValidator
    try:
        return tuple(SpecError(_pointer(e.path), e.message) for e in validator(spec).iter_errors())
    # The validator trusts the document's shape and fails on hostile ones with whatever it
    # meets (KeyError, TypeError, an unresolvable $ref...); none of that may crash the check.
    except Exception as exc:
        raise ParseError(source, "", f"openapi-spec-validator cannot process it ({type(exc).__name__}: "
                         f"{str(exc)[:200]})", "Fix the document's structure (a $ref pointing nowhere, "
                         "a list where a mapping belongs) and run the gate again.") from None


def _pointer(path: Any) -> str:
    return "#" + "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def require_openapi3(spec: Any, source: str) -> str:
    """The document's ``openapi`` version; ParseError if it is not an OpenAPI 3 document."""
    if not isinstance(spec, dict) or not str(spec.get("openapi", "")).startswith("3."):
        raise ParseError(source, "openapi", "is not an OpenAPI 3 document (no 'openapi: 3.x' field)")
    if spec.get("paths") is not None and not isinstance(spec["paths"], dict):
        raise ParseError(source, "paths", "is not a mapping of paths to operations")
    return str(spec["openapi"])


def operations(spec: dict[str, Any]) -> tuple[Operation, ...]:
    """Every operation under ``paths``."""
    return tuple(
        Operation(method.upper(), str(path), frozenset(str(code) for code in _responses(op)), op.get("x-sla"))
        for path, item in (spec.get("paths") or {}).items() if isinstance(item, dict)
        for method, op in item.items() if method in METHODS and isinstance(op, dict))


def _responses(op: dict[str, Any]) -> Any:
    responses = op.get("responses")
    return responses if isinstance(responses, dict) else {}


def compare(documented: tuple[Operation, ...],
            served: tuple[Operation, ...]) -> tuple[tuple[Operation, ...], tuple[Operation, ...]]:
    """Operations only the served spec lists, and operations only the document lists (sorted, each once)."""
    documented_keys = {op.key for op in documented}
    served_keys = {op.key for op in served}
    return (_distinct(op for op in served if op.key not in documented_keys),
            _distinct(op for op in documented if op.key not in served_keys))


def _distinct(found: Iterable[Operation]) -> tuple[Operation, ...]:
    """Sorted by method and path as written, one operation per method and path."""
    return tuple({(op.method, op.path): op for op in sorted(found, key=lambda op: (op.method, op.path))}.values())
