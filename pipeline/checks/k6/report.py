"""How the k6 check shows a summary: measurements, per-endpoint rows, findings, numbers."""

from __future__ import annotations

from typing import Any

from pipeline.checks.k6.summary import TIME_METRICS, Summary, Threshold, aggregation, base_metric, submetric_tags
from pipeline.checks.k6.thresholds import parse_expression
from pipeline.model import Finding, Measurement


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


def endpoint_rows(summary: Summary) -> list[dict[str, Any]]:
    """Per endpoint (``name`` tag): latency percentiles, error rate and the p95 limit, for the report."""
    rows = []
    for metric, values in summary.metrics.items():
        tags = submetric_tags(metric)
        if base_metric(metric) != "http_req_duration" or set(tags) != {"name"}:
            continue
        limit = next((_limit(t.expression) for t in summary.thresholds
                      if t.metric == metric and aggregation(t.expression) == "p(95)"), None)
        failed = summary.metrics.get(f"http_req_failed{{name:{tags['name']}}}", {}).get("rate")
        verdicts = [t.verdict for t in summary.thresholds if submetric_tags(t.metric) == tags]
        ok = False if False in verdicts else None if None in verdicts else True
        rows.append({"name": tags["name"], "p50": values.get("med"), "p95": values.get("p(95)"),
                     "p99": values.get("p(99)"), "max": values.get("max"), "p95_limit": limit,
                     "error_rate": failed, "ok": ok})
    return sorted(rows, key=lambda r: r["name"])


def _limit(expression: str) -> float | None:
    parsed = parse_expression(expression)
    return parsed.limit if parsed and parsed.operator in ("<", "<=") else None


def crossed_finding(threshold: Threshold) -> Finding:
    """A crossed threshold, per endpoint."""
    endpoint = threshold.tags.get("name", "all requests")
    return Finding(
        id=f"{threshold.metric} {threshold.expression}", severity="high",
        title=f"{endpoint}: {base_metric(threshold.metric)} {threshold.expression} crossed "
              f"(observed {fmt(threshold.observed, threshold)})",
        location=endpoint, details={"metric": threshold.metric, "expression": threshold.expression,
                                    "observed": threshold.observed})


def check_findings(summary: Summary) -> list[Finding]:
    """check() failures: shown, not failing (they gate only through a threshold on ``checks``)."""
    if not summary.checks_failed:
        return []
    total = summary.checks_passed + summary.checks_failed
    return [Finding("k6 checks", "medium", f"{summary.checks_failed} of {total} k6 check() calls failed",
                    "script checks", failing=False)]


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
