"""Read OpenAPI documents: load the text, list the operations, compare two documents.

A spec file cut at a line still parses as YAML; comparing its operations with those the
running service serves shows what it lacks.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import requests
import yaml

from pipeline import yamlsafe
from pipeline.errors import CheckError, ParseError

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
FETCH_TIMEOUT_S = 15
_PARAMETER = re.compile(r"\{[^}/]*\}")


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


def load(text: str, source: str) -> Any:
    """The decoded JSON or YAML document; ParseError names the line."""
    try:
        return json.loads(text) if text.lstrip().startswith("{") else yamlsafe.load(text, source)
    except json.JSONDecodeError as exc:
        raise ParseError(source, f"line {exc.lineno} column {exc.colno}", f"is not valid JSON ({exc.msg})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ParseError(source, f"line {mark.line + 1}" if mark else "", "is not valid YAML") from None
    except RecursionError:
        raise ParseError(source, "", "is nested too deeply to be an OpenAPI document") from None


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


def compare(documented: tuple[Operation, ...], served: tuple[Operation, ...]) -> tuple[list[str], list[str]]:
    """Operations only the served spec lists, and operations only the document lists (as written)."""
    documented_keys = {op.key for op in documented}
    served_keys = {op.key for op in served}
    only_served = sorted({f"{op.method} {op.path}" for op in served if op.key not in documented_keys})
    only_documented = sorted({f"{op.method} {op.path}" for op in documented if op.key not in served_keys})
    return only_served, only_documented
