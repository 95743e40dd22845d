"""k6 metrics in a summary: their names (``metric{tag:value}``), their types, and the ranges
their values must lie in. Every value is validated before any threshold is recomputed.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

from pipeline import evidence
from pipeline.errors import ParseError

EXPORT = "summary-export"
HANDLE_SUMMARY = "handleSummary"
_SUBMETRIC = re.compile(r"^(?P<metric>[^{]+)\{(?P<tags>.*)\}$")
_PERCENTILE = re.compile(r"^p\((\d+(?:\.\d+)?)\)$")
_TREND_KEYS = {"avg", "min", "med", "max", "count"}
METRIC_TYPES = ("counter", "gauge", "rate", "trend")
# k6's own metrics whose values cannot be negative (a custom Counter or Trend may be:
# k6 1.1 accepts Counter.add(-5)).
TIME_METRICS = {"http_req_duration", "http_req_waiting", "http_req_blocked", "http_req_connecting",
                "http_req_sending", "http_req_receiving", "http_req_tls_handshaking", "iteration_duration",
                "group_duration", "grpc_req_duration", "ws_connecting", "ws_session_duration", "ws_ping"}
BUILTIN_NON_NEGATIVE = {"http_reqs", "iterations", "dropped_iterations", "data_sent", "data_received",
                        "vus", "vus_max", "ws_msgs_sent", "ws_msgs_received", "ws_sessions", "grpc_streams",
                        "grpc_streams_msgs_sent", "grpc_streams_msgs_received"}
# k6 computes a rate as passes / (passes + fails) in float64; the summary repeats that number.
RATE_TOLERANCE = 1e-9


def submetric_tags(metric: str) -> dict[str, str]:
    """``{"name": "get_order"}`` for ``http_req_duration{name:get_order}``; ``{}`` for a plain metric."""
    match = _SUBMETRIC.match(metric)
    if not match:
        return {}
    tags = {}
    for pair in match["tags"].split(","):
        key, _, value = pair.partition(":")
        tags[key.strip()] = value.strip()
    return tags


def base_metric(metric: str) -> str:
    """``http_req_duration`` for ``http_req_duration{name:get_order}``."""
    match = _SUBMETRIC.match(metric)
    return match["metric"] if match else metric


def metric_values(body: dict[str, Any], shape: str, place: str, path: Path | str) -> dict[str, float]:
    """A metric's values as numbers (each validated as one); a rate's ``value`` also as ``rate``."""
    source = body.get("values") if shape == HANDLE_SUMMARY else body
    if not isinstance(source, dict):
        raise ParseError(path, f"{place}.values", "is not an object")
    values: dict[str, float] = {}
    for key, value in source.items():
        if key in ("thresholds", "type", "contains"):
            continue
        values[str(key)] = evidence.number(value, path, f"{place}.{key}")
    # --summary-export names a rate metric's rate `value`; handleSummary names it `rate`.
    if shape == EXPORT and "value" in values and "passes" in values and "rate" not in values:
        values["rate"] = values["value"]
    return values


def metric_type(body: dict[str, Any], values: dict[str, float], shape: str, place: str,
          path: Path | str) -> str | None:
    """The metric type: declared by handleSummary, told from the value names in an export."""
    if shape == HANDLE_SUMMARY:
        declared = body.get("type")
        if declared not in METRIC_TYPES:
            raise ParseError(path, f"{place}.type", f"is {declared!r}, not one of {', '.join(METRIC_TYPES)}")
        return str(declared)
    keys = set(values)
    if keys & {"passes", "fails"}:
        return "rate"
    if "count" in keys and keys <= {"count", "rate"}:
        return "counter"
    if "value" in keys and keys <= {"value", "min", "max"}:
        return "gauge"
    if keys and all(k in _TREND_KEYS or _PERCENTILE.match(k) for k in keys):
        return "trend"
    return None


def validate_values(name: str, kind: str | None, values: dict[str, float], contains: Any, place: str,
              path: Path | str) -> None:
    """Ranges per metric type: rates in [0, 1], counts whole and >= 0, times >= 0, trends ordered."""
    base = base_metric(name)
    non_negative = base in BUILTIN_NON_NEGATIVE or base in TIME_METRICS or contains in ("time", "data")
    for key, value in values.items():
        where = f"{place}.{key}"
        if kind == "rate" and key in ("rate", "value"):
            evidence.rate(value, path, where)
        elif key in ("passes", "fails") or (kind == "trend" and key == "count"):
            evidence.count(value, path, where)
        elif non_negative:
            evidence.non_negative(value, path, where)
    if kind == "rate":
        _check_rate(values, place, path)
    elif kind == "trend":
        _check_order(values, place, path)


def _check_rate(values: dict[str, float], place: str, path: Path | str) -> None:
    passes, fails, rate = values.get("passes"), values.get("fails"), values.get("rate")
    if passes is None or fails is None or rate is None:
        return
    expected = passes / (passes + fails) if passes + fails else 0.0
    if abs(rate - expected) > RATE_TOLERANCE:
        raise ParseError(path, f"{place}.rate", f"is {rate!r}, but {passes:g} passes and {fails:g} fails "
                         f"make {expected!r}: the summary contradicts itself")


def _check_order(values: dict[str, float], place: str, path: Path | str) -> None:
    """min <= med, percentiles <= max, percentiles rising with their rank."""
    ranked = sorted((float(m.group(1)), key) for key in values if (m := _PERCENTILE.match(key)))
    if "med" in values:
        ranked = sorted([*ranked, (50.0, "med")])
    chain = [("min", values["min"])] if "min" in values else []
    chain += [(key, values[key]) for _, key in ranked]
    chain += [("max", values["max"])] if "max" in values else []
    for (low_key, low), (high_key, high) in itertools.pairwise(chain):
        if low > high + 1e-9 * max(abs(low), abs(high), 1.0):
            raise ParseError(path, f"{place}.{high_key}", f"is {high!r}, below {low_key} {low!r}: "
                             "the summary contradicts itself")
