"""How the k6 check shows a summary: measurements, the latency per endpoint, findings, numbers."""

from __future__ import annotations

import re

from pipeline.checks.k6.metrics import TIME_METRICS, base_metric, submetric_tags
from pipeline.checks.k6.summary import Summary, Threshold, aggregation
from pipeline.checks.k6.thresholds import parse_expression
from pipeline.model import Finding, Measurement
from pipeline.views import Bar, Bars

_SPACE = re.compile(r"\s+")


def threshold_measurement(threshold: Threshold) -> Measurement:
    """One threshold: the observed value, and ok as recomputed (None when nothing proves it)."""
    unit = "ratio" if aggregation(threshold.expression) == "rate" else (
        "ms" if base_metric(threshold.metric) in TIME_METRICS else "")
    return Measurement(f"{threshold.metric} {threshold.expression}", _round(threshold.observed), unit,
                       threshold.expression, threshold.verdict)


def headline_measurements(summary: Summary) -> list[Measurement]:
    """Latency percentiles, request and error rates, checks, volume."""
    duration = summary.metrics.get("http_req_duration", {})
    wanted = [(f"latency {label}", duration.get(key), "ms") for label, key in
              (("p50", "med"), ("p90", "p(90)"), ("p95", "p(95)"), ("p99", "p(99)"), ("max", "max"))]
    metrics = summary.metrics
    wanted += [
        ("request rate", metrics.get("http_reqs", {}).get("rate"), "req/s"),
        ("error rate", metrics.get("http_req_failed", {}).get("rate"), "ratio"),
        ("checks pass rate", metrics.get("checks", {}).get("rate"), "ratio"),
        ("iterations", metrics.get("iterations", {}).get("count"), ""),
        ("max VUs", metrics.get("vus_max", {}).get("max", metrics.get("vus_max", {}).get("value")), ""),
        ("data sent", metrics.get("data_sent", {}).get("count"), "B"),
        ("data received", metrics.get("data_received", {}).get("count"), "B"),
    ]
    return [Measurement(name, _round(value), unit) for name, value, unit in wanted if value is not None]


def latency_view(summary: Summary) -> Bars:
    """Per endpoint (``name`` tag): the p95 bar against its p95 limit, p50 and p99 as marks."""
    rows = [_endpoint_bar(summary, metric, tags["name"]) for metric in summary.metrics
            if base_metric(metric) == "http_req_duration" and set(tags := submetric_tags(metric)) == {"name"}
            and summary.metrics[metric].get("p(95)") is not None]
    return Bars("Latency per endpoint", "ms", tuple(sorted(rows, key=lambda r: r.label)), "the p95 limit")


def _endpoint_bar(summary: Summary, metric: str, name: str) -> Bar:
    """One endpoint; ok when every threshold on it is met as recomputed (None when one is unproven)."""
    values = summary.metrics[metric]
    limit = next((_limit(t.expression) for t in summary.thresholds
                  if t.metric == metric and aggregation(t.expression) == "p(95)"), None)
    verdicts = [t.verdict for t in summary.thresholds if t.tags == {"name": name}]
    ok = False if False in verdicts else None if None in verdicts else True
    p50, p95, p99 = values.get("med"), values["p(95)"], values.get("p(99)")
    text = " / ".join(f"{label} {value:.0f}" for label, value in (("p50", p50), ("p95", p95), ("p99", p99))
                      if value is not None) + " ms"
    failed = summary.metrics.get(f"http_req_failed{{name:{name}}}", {}).get("rate")
    if failed is not None:
        text += f", error rate {pct(failed)}"
    return Bar(name, p95, limit, ok, text, tuple(v for v in (p50, p99) if v is not None))


def _limit(expression: str) -> float | None:
    parsed = parse_expression(expression)
    return parsed.limit if parsed and parsed.operator in ("<", "<=") else None


def crossed_finding(threshold: Threshold) -> Finding:
    """A crossed threshold, per endpoint."""
    endpoint = threshold.tags.get("name", "all requests")
    return Finding(
        id=threshold_id(threshold.metric, threshold.expression), severity="high",
        title=f"{endpoint}: {base_metric(threshold.metric)} {threshold.expression} crossed "
              f"(observed {fmt(threshold.observed, threshold)})",
        location=endpoint, details={"metric": threshold.metric, "expression": threshold.expression,
                                    "observed": threshold.observed},
        aliases=(f"{threshold.metric} {threshold.expression}",))  # the id before issue 13: old waivers match


def threshold_id(metric: str, expression: str) -> str:
    """``threshold:<metric>:<expression>`` without spaces (k6 ignores them in an expression)."""
    return f"threshold:{_SPACE.sub('_', metric.strip())}:{_SPACE.sub('', expression)}"


def check_findings(summary: Summary) -> list[Finding]:
    """check() failures: shown, not failing (they gate only through a threshold on ``checks``)."""
    if not summary.checks_failed:
        return []
    total = summary.checks_passed + summary.checks_failed
    return [Finding("checks:failed", "medium", f"{summary.checks_failed} of {total} k6 check() calls failed",
                    "script checks", failing=False, aliases=("k6 checks",))]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def fmt(value: float | None, threshold: Threshold) -> str:
    """An observed value in the threshold's unit."""
    if value is None:
        return "n/a"
    return pct(value) if aggregation(threshold.expression) == "rate" else ms(value) \
        if base_metric(threshold.metric) in TIME_METRICS else f"{value:g}"


def ms(value: float | None) -> str:
    """Milliseconds, one decimal."""
    return "n/a" if value is None else f"{value:.1f} ms"


def pct(value: float | None) -> str:
    """A ratio as a percentage."""
    return "n/a" if value is None else f"{value * 100:.3g}%"
