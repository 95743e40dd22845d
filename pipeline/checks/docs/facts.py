"""The facts the documents are held to, from the OpenAPI spec (the database's come from the catalog)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.checks.openapi.document import METHODS, load
from pipeline.errors import ParseError
from pipeline.evidence import mapping, non_negative, optional_text, rate, sequence


@dataclass(frozen=True)
class Operation:
    """One operation as the documents must describe it."""

    method: str
    path: str
    operation_id: str
    error_codes: tuple[str, ...]  # documented 4xx/5xx responses
    p95_ms: float | None  # x-sla
    error_rate: float | None  # x-sla
    rate_limit: tuple[tuple[str, float], ...]  # the numbers of x-rate-limit, by key
    scopes: tuple[str, ...]  # scopes its security requirements name

    @property
    def names(self) -> tuple[str, ...]:
        """How a document may name it: ``GET /orders/{order_id}`` or its operationId."""
        return tuple(n for n in (f"{self.method} {self.path}", self.operation_id) if n)

    @property
    def label(self) -> str:
        """Its operationId, else ``METHOD path``: the name findings use."""
        return self.operation_id or f"{self.method} {self.path}"


def read_spec(path: Path) -> tuple[Operation, ...]:
    """Every operation of the spec file, its fields validated."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ParseError(path, "", f"cannot be read ({exc})", "Point checks.docs.spec at the OpenAPI file.") from None
    spec = mapping(load(text, str(path)), path, "the document")
    found = []
    for route, item in mapping(spec.get("paths", {}), path, "paths").items():
        for method, op in mapping(item, path, f"paths.{route}").items():
            if method in METHODS:
                found.append(_operation(method, route, mapping(op, path, f"paths.{route}.{method}"), path))
    return tuple(found)


def _operation(method: str, route: str, op: dict[str, Any], source: Path) -> Operation:
    place = f"paths.{route}.{method}"
    responses = mapping(op.get("responses", {}), source, f"{place}.responses")
    sla = mapping(op.get("x-sla") or {}, source, f"{place}.x-sla")
    limit = mapping(op.get("x-rate-limit") or {}, source, f"{place}.x-rate-limit")
    scopes = sorted({str(s) for requirement in sequence(op.get("security"), source, f"{place}.security",
                                                        optional=True)
                     for listed in mapping(requirement, source, f"{place}.security").values()
                     for s in sequence(listed, source, f"{place}.security")})
    return Operation(
        method.upper(), route, optional_text(op.get("operationId"), source, f"{place}.operationId"),
        tuple(sorted(code for code in responses if code[:1] in ("4", "5"))),
        non_negative(sla["p95_ms"], source, f"{place}.x-sla.p95_ms") if "p95_ms" in sla else None,
        rate(sla["error_rate"], source, f"{place}.x-sla.error_rate") if "error_rate" in sla else None,
        tuple((key, non_negative(value, source, f"{place}.x-rate-limit.{key}"))
              for key, value in sorted(limit.items()) if _is_number(value)),
        tuple(scopes))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
