"""Read a k6 (v1.x) end-of-test summary, in either of its two JSON shapes.

- ``--summary-export`` ("old JSON"): metric values flattened into the metric
  object (``metrics.http_req_duration["p(95)"]``), rate metrics under ``value``,
  and each threshold a boolean that is **true when the threshold FAILED**.
- ``handleSummary(data)``: values under ``values`` (rate metrics under ``rate``),
  and each threshold ``{"ok": true}`` when it PASSED.

The shape is detected from the thresholds and values themselves; a document that is
neither is a parse error, never a guess, because a flipped polarity would turn
every failure into a pass.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import ParseError

EXPORT = "summary-export"
HANDLE_SUMMARY = "handleSummary"
# "p(95)<200", "rate<0.001", "count>=10", "avg < 300" (k6 allows spaces).
_EXPRESSION = re.compile(r"^\s*(?P<agg>[a-z]+(?:\(\d+(?:\.\d+)?\))?)\s*(?P<op>===|==|!=|<=|>=|<|>)\s*"
                         r"(?P<value>-?\d+(?:\.\d+)?)\s*$")
_SUBMETRIC = re.compile(r"^(?P<metric>[^{]+)\{(?P<tags>.*)\}$")


@dataclass(frozen=True)
class Threshold:
    """One threshold as k6 judged it."""

    metric: str
    expression: str
    ok: bool
    observed: float | None

    @property
    def tags(self) -> dict[str, str]:
        return submetric_tags(self.metric)


@dataclass(frozen=True)
class Summary:
    """What a k6 summary says, independent of its shape."""

    shape: str
    metrics: dict[str, dict[str, float]]
    thresholds: tuple[Threshold, ...]
    checks_passed: int
    checks_failed: int
    duration_ms: float | None


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
    match = _SUBMETRIC.match(metric)
    return match["metric"] if match else metric


def aggregation(expression: str) -> str | None:
    """The aggregation a threshold expression tests (``p(95)``, ``rate``...), None if unreadable."""
    match = _EXPRESSION.match(expression)
    return match["agg"] if match else None


def read_summary(path: Path) -> Summary:
    """Parse the summary file at ``path``; ParseError names the file and the place."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ParseError(path, "", f"cannot be read: {exc.strerror}") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(path, f"line {exc.lineno} column {exc.colno}",
                         f"is not valid JSON ({exc.msg}); the run may have been cut short",
                         "k6 writes the summary when the test ends; a killed k6 leaves none.") from exc
    return parse_summary(document, path)


def parse_summary(document: Any, path: Path | str = "<summary>") -> Summary:
    if not isinstance(document, dict) or not isinstance(document.get("metrics"), dict):
        if isinstance(document, dict) and "results" in document and "version" in document:
            raise ParseError(path, "", "is k6's new machine-readable summary, which carries no thresholds",
                             "Use --summary-export (the gate does) or handleSummary data.")
        raise ParseError(path, "", "is not a k6 summary (no 'metrics' object)")
    shape = _shape(document["metrics"], path)
    metrics: dict[str, dict[str, float]] = {}
    thresholds: list[Threshold] = []
    for name, body in document["metrics"].items():
        if not isinstance(body, dict):
            raise ParseError(path, f"metrics.{name}", "is not an object")
        values = _values(body, shape, f"metrics.{name}", path)
        metrics[name] = values
        thresholds += _thresholds(name, body.get("thresholds") or {}, values, shape, path)
    passed, failed = _checks(document.get("root_group") or {})
    state = document.get("state") or {}
    duration = state.get("testRunDurationMs") if isinstance(state, dict) else None
    return Summary(shape, metrics, tuple(thresholds), passed, failed,
                   float(duration) if isinstance(duration, int | float) else None)


def _shape(metrics: dict[str, Any], path: Path | str) -> str:
    """Which of the two shapes this is, from evidence inside the metrics; else ParseError."""
    seen: set[str] = set()
    for body in metrics.values():
        if not isinstance(body, dict):
            continue
        if isinstance(body.get("values"), dict):
            seen.add(HANDLE_SUMMARY)
        for verdict in (body.get("thresholds") or {}).values():
            if isinstance(verdict, bool):
                seen.add(EXPORT)
            elif isinstance(verdict, dict) and isinstance(verdict.get("ok"), bool):
                seen.add(HANDLE_SUMMARY)
        if any(isinstance(v, int | float) and not isinstance(v, bool) for v in body.values()):
            seen.add(EXPORT)
    if len(seen) != 1:
        problem = "mixes the --summary-export and handleSummary shapes" if seen else \
            "has neither the --summary-export nor the handleSummary shape"
        raise ParseError(path, "metrics", problem,
                         "The gate reads k6 v1.x summaries; a guessed shape could flip pass and fail.")
    return seen.pop()


def _values(body: dict[str, Any], shape: str, place: str, path: Path | str) -> dict[str, float]:
    source = body.get("values") if shape == HANDLE_SUMMARY else body
    values: dict[str, float] = {}
    for key, value in (source or {}).items():
        if key in ("thresholds", "type", "contains"):
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParseError(path, f"{place}.{key}", f"is {value!r}, not a number")
        if not math.isfinite(value):
            raise ParseError(path, f"{place}.{key}", "is not a finite number")
        values[key] = float(value)
    # --summary-export names a rate metric's rate `value`; handleSummary names it `rate`.
    if shape == EXPORT and "value" in values and "passes" in values and "rate" not in values:
        values["rate"] = values["value"]
    return values


def _thresholds(metric: str, raw: dict[str, Any], values: dict[str, float], shape: str,
                path: Path | str) -> list[Threshold]:
    found = []
    for expression, verdict in raw.items():
        place = f"metrics.{metric}.thresholds[{expression!r}]"
        if shape == EXPORT:
            if not isinstance(verdict, bool):
                raise ParseError(path, place, f"is {verdict!r}, expected true (failed) or false (passed)")
            ok = not verdict  # --summary-export: true means the threshold FAILED
        else:
            if not isinstance(verdict, dict) or not isinstance(verdict.get("ok"), bool):
                raise ParseError(path, place, f"is {verdict!r}, expected {{\"ok\": true|false}}")
            ok = verdict["ok"]
        agg = aggregation(expression)
        found.append(Threshold(metric, expression, ok, values.get(agg) if agg else None))
    return found


def _checks(group: dict[str, Any]) -> tuple[int, int]:
    """Passes and fails of every check() in the group tree (both shapes nest the same way)."""
    passed = failed = 0
    checks = group.get("checks") or {}
    for check in checks.values() if isinstance(checks, dict) else checks:
        if isinstance(check, dict):
            passed += int(check.get("passes", 0))
            failed += int(check.get("fails", 0))
    groups = group.get("groups") or {}
    for sub in groups.values() if isinstance(groups, dict) else groups:
        if isinstance(sub, dict):
            p, f = _checks(sub)
            passed, failed = passed + p, failed + f
    return passed, failed
