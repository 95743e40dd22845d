"""Recompute a k6 threshold from the observed values instead of trusting k6's boolean.

A threshold is ``<aggregation> <operator> <number>`` (``p(95)<200``, ``rate<0.001``,
``count>=10``); k6 compares the metric's aggregated value with the number. The gate
does the same comparison on the values in the summary. What cannot be recomputed (an
unreadable expression, an aggregation the summary does not hold, a metric that
recorded no sample) is said so, never guessed.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

# k6 parses the number with Go's strconv.ParseFloat; the decimal forms are accepted here.
_EXPRESSION = re.compile(
    r"^\s*(?P<agg>count|rate|value|avg|min|med|max|p\((?P<pct>\d+(?:\.\d+)?)\))\s*"
    r"(?P<op>===|==|!=|<=|>=|<|>)\s*(?P<limit>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
_PERCENTILE_KEY = re.compile(r"^p\((\d+(?:\.\d+)?)\)$")
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "===": operator.eq, "!=": operator.ne,
}
# What k6 lets a threshold aggregate, per metric type (k6 refuses the rest with exit 104).
AGGREGATIONS = {
    "counter": {"count", "rate"},
    "gauge": {"value"},
    "rate": {"rate"},
    "trend": {"avg", "min", "med", "max", "p"},
}
TREND_AGGREGATIONS = AGGREGATIONS["trend"]


@dataclass(frozen=True)
class Expression:
    """A parsed threshold expression."""

    aggregation: str  # as written: "p(95)", "rate"...
    percentile: float | None  # 95.0 for p(95)
    operator: str
    limit: float

    @property
    def kind(self) -> str:
        """The aggregation without its argument: ``p`` for every percentile."""
        return "p" if self.percentile is not None else self.aggregation


@dataclass(frozen=True)
class Recomputed:
    """The threshold evaluated on the observed value, or why it cannot be."""

    holds: bool | None
    observed: float | None
    why_not: str = ""


def parse_expression(text: str) -> Expression | None:
    """The parts of a threshold expression; None when it is not one the gate can recompute."""
    match = _EXPRESSION.match(text)
    if not match:
        return None
    pct = float(match["pct"]) if match["pct"] is not None else None
    if pct is not None and pct > 100:
        return None
    return Expression(match["agg"], pct, match["op"], float(match["limit"]))


def observed(expression: Expression, values: Mapping[str, float]) -> float | None:
    """The observed value the expression aggregates (``p(95)`` also matches ``p(95.0)``)."""
    if expression.percentile is None:
        return values.get(expression.aggregation)
    for key, value in values.items():
        match = _PERCENTILE_KEY.match(key)
        if match and float(match.group(1)) == expression.percentile:
            return value
    return None


def recompute(text: str, metric_type: str | None, values: Mapping[str, float],
              samples: int | None) -> Recomputed:
    """Evaluate the threshold ``text`` on a metric's summary values."""
    expression = parse_expression(text)
    if expression is None:
        return Recomputed(None, None, f"the expression {text!r} cannot be read")
    if metric_type is None:
        return Recomputed(None, None, "the metric's type cannot be told from the summary")
    if expression.kind not in AGGREGATIONS.get(metric_type, set()):
        return Recomputed(None, None, f"a {metric_type} metric has no {expression.aggregation}")
    value = observed(expression, values)
    if value is None:
        return Recomputed(None, None, f"the summary holds no {expression.aggregation} for it "
                                      "(k6 reports only the summaryTrendStats it was asked for)")
    if samples == 0:
        return Recomputed(None, value, "the metric recorded no sample, so the threshold proves nothing "
                                       "(are the requests tagged as the sub-metric selects?)")
    return Recomputed(OPERATORS[expression.operator](value, expression.limit), value)


def trend_stats(expressions: list[str], defaults: list[str]) -> list[str]:
    """``defaults`` plus every trend aggregation the expressions use, and ``count``.

    Given to k6 as --summary-trend-stats so that every threshold can be recomputed and
    an empty sub-metric (count 0) is seen.
    """
    stats = list(defaults)
    for text in expressions:
        expression = parse_expression(text)
        if expression and expression.kind in TREND_AGGREGATIONS and expression.aggregation not in stats:
            stats.append(expression.aggregation)
    return stats if "count" in stats else [*stats, "count"]
