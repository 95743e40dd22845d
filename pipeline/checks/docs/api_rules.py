"""The API document against the spec: operations, error codes, quotas and SLAs, and nothing stale."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from pipeline.checks.docs.facts import Operation
from pipeline.checks.docs.markdown import Document, Row, Section
from pipeline.model import Finding

NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?")
_OPERATION = re.compile(r"\b(GET|PUT|POST|DELETE|PATCH|HEAD|OPTIONS|TRACE)\s+(/[^\s|`),;]*)")


def api_findings(document: Document, path: str, operations: tuple[Operation, ...]) -> Iterator[Finding]:
    """Every operation, error code, quota and SLA of the spec in the API document, and nothing it lacks."""
    text = document.root.text()
    for op in operations:
        if not names_operation(text, op):
            yield Finding(f"operation-undocumented:{op.label}", "medium",
                          f"{path} does not describe {op.method} {op.path} ({op.operation_id})", path, file=path)
    known = {(op.method, op.path) for op in operations}
    for method, route, line in _named_operations(document):
        if (method, route) not in known:
            yield Finding(f"operation-not-in-spec:{method} {route}".replace(" ", "_"), "medium",
                          f"{path}:{line} describes {method} {route}, which the spec does not have", path,
                          file=path, line=line)
    errors = document.find("Error codes")
    listed = set(NUMBER.findall(errors.text())) if errors else set()
    for code in sorted({c for op in operations for c in op.error_codes}):
        if code not in listed:
            yield Finding(f"error-code-undocumented:{code}", "medium",
                          f"{path}: the error codes section does not explain {code}, which the spec documents",
                          path, file=path, line=errors.line if errors else None)
    yield from _numbers_per_operation(document.find("Rate limit"), path, operations, "rate-limit",
                                      lambda op: [(k, v) for k, v in op.rate_limit])
    yield from _numbers_per_operation(document.find("SLA"), path, operations, "sla", _sla_numbers)


def _sla_numbers(op: Operation) -> list[tuple[str, float]]:
    found = [("p95_ms", op.p95_ms)] if op.p95_ms is not None else []
    return found + ([("error_rate", op.error_rate)] if op.error_rate is not None else [])


def _numbers_per_operation(section: Section | None, path: str, operations: tuple[Operation, ...], kind: str,
                           numbers: Callable[[Operation], list[tuple[str, float]]]) -> Iterator[Finding]:
    """Each operation with numbers (a quota, an SLA) has a row naming it that states every one of them."""
    for op in operations:
        wanted = numbers(op)
        if not wanted:
            continue
        row = _row_naming(section, op) if section else None
        if row is None:
            yield Finding(f"{kind}-undocumented:{op.label}", "medium",
                          f"{path}: no row of the {kind} section names {op.label}", path, file=path,
                          line=section.line if section else None)
            continue
        stated = [float(n) for n in NUMBER.findall(" ".join(row.cells))]
        missing = [f"{key} {value:g}" for key, value in wanted if not _stated(value, stated, key)]
        if missing:
            yield Finding(f"{kind}-mismatch:{op.label}", "medium",
                          f"{path}:{row.line} disagrees with the spec for {op.label}: it does not state "
                          f"{', '.join(missing)}", path, file=path, line=row.line,
                          message=f"the row reads: {' | '.join(row.cells)}")


def _stated(value: float, stated: list[float], key: str) -> bool:
    """A number is stated as itself, or a rate as a percentage."""
    candidates = [value, value * 100] if "rate" in key else [value]
    return any(abs(s - c) <= 1e-9 * max(1.0, abs(c)) for s in stated for c in candidates)


def _row_naming(section: Section, op: Operation) -> Row | None:
    return next((row for row in section.rows() if any(names_operation(cell, op) for cell in row.cells)),
                None)


def _named_operations(document: Document) -> Iterator[tuple[str, str, int]]:
    for section in document.root.walk():
        lines = [*section.texts, *((" | ".join(r.cells), r.line) for t in section.tables for r in t[1:])]
        for text, line in lines:
            for method, route in _OPERATION.findall(text):
                yield method, route.split("?", 1)[0].rstrip("."), line


def names_operation(text: str, op: Operation) -> bool:
    """Whether ``text`` names the operation as a whole: ``GET /orders`` is not ``GET /orders/{order_id}``,
    and ``get_order`` is not ``get_orders``."""
    return any(re.search(rf"(?<![\w/{{}}]){re.escape(name)}(?![\w/{{}}])", text) for name in op.names)
