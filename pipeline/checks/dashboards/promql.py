"""PromQL read with a real parser (promql-parser, the Rust parser Prometheus's grammar is ported to).

What the dashboards and slo checks need from an expression: the series it selects (metric
name and label matchers), the labels it groups by, the quantile of a histogram_quantile and
the threshold of a comparison. Grafana's template variables are replaced by a stand-in
before parsing (they are not PromQL); an expression that still does not parse is None.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import promql_parser

# Grafana's interval variables stand where PromQL wants a duration; any other variable in a label value.
_INTERVAL_VARIABLE = re.compile(r"\$(?:__rate_interval|__interval|__range)\b|\$\{__(?:rate_interval|interval|range)\}")
_VARIABLE = re.compile(r"\$\{?\w+\}?")
COMPARISONS = {">", ">=", "<", "<=", "==", "!="}


@dataclass(frozen=True)
class Selector:
    """One series selector: its metric name and its label matchers (label -> (operator, value))."""

    name: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, op such as '=' or '=~', value)


def parse(expression: str) -> Any:
    """The expression's syntax tree, or None when it is not PromQL."""
    text = _VARIABLE.sub("var", _INTERVAL_VARIABLE.sub("5m", expression))
    try:
        return promql_parser.parse(text)
    except (ValueError, RuntimeError, TypeError):
        return None


def metric_names(expression: str) -> set[str]:
    """Metric names the expression selects (empty when it does not parse)."""
    tree = parse(expression)
    return {s.name for s in selectors(tree) if s.name} if tree is not None else set()


def selectors(node: Any) -> Iterator[Selector]:
    """Every series selector under ``node``, depth first."""
    if isinstance(node, promql_parser.VectorSelector):
        yield Selector(node.name or "", tuple((m.name, _op(m.op), m.value) for m in node.matchers.matchers))
        return
    for child in _children(node):
        yield from selectors(child)


def grouping(node: Any) -> set[str]:
    """Labels some aggregation under ``node`` keeps with ``by (...)``."""
    labels: set[str] = set()
    if isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None and \
            str(node.modifier.type).endswith("By"):
        labels |= set(node.modifier.labels)
    for child in _children(node):
        labels |= grouping(child)
    return labels


def quantile(node: Any) -> float | None:
    """The φ of the first ``histogram_quantile(φ, ...)`` under ``node``."""
    if isinstance(node, promql_parser.Call) and node.func.name == "histogram_quantile":
        first = node.args[0]
        return float(first.val) if isinstance(first, promql_parser.NumberLiteral) else None
    for child in _children(node):
        found = quantile(child)
        if found is not None:
            return found
    return None


def threshold(node: Any) -> tuple[str, float] | None:
    """``(op, number)`` of a top-level comparison with a number (``expr > 0.2``), else None."""
    while isinstance(node, promql_parser.ParenExpr):
        node = node.expr
    if isinstance(node, promql_parser.BinaryExpr) and str(node.op) in COMPARISONS \
            and isinstance(node.rhs, promql_parser.NumberLiteral):
        return str(node.op), float(node.rhs.val)
    return None


def _op(op: Any) -> str:
    return {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}.get(str(op).rsplit(".", 1)[-1], str(op))


def _children(node: Any) -> list[Any]:
    if isinstance(node, promql_parser.BinaryExpr):
        return [node.lhs, node.rhs]
    if isinstance(node, promql_parser.Call):
        return list(node.args)
    if isinstance(node, promql_parser.AggregateExpr):
        return [node.expr] + ([node.param] if node.param is not None else [])
    if isinstance(node, promql_parser.MatrixSelector):
        return [node.vector_selector]
    if isinstance(node, promql_parser.ParenExpr | promql_parser.SubqueryExpr | promql_parser.UnaryExpr):
        return [node.expr]
    return []
