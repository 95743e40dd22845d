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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import evidence
from pipeline.checks.k6.metrics import (
    EXPORT,
    HANDLE_SUMMARY,
    base_metric,
    metric_type,
    metric_values,
    submetric_tags,
    validate_values,
)
from pipeline.checks.k6.thresholds import parse_expression, recompute
from pipeline.errors import ParseError

__all__ = ["EXPORT", "HANDLE_SUMMARY", "Summary", "Threshold", "aggregation", "parse_summary", "read_summary"]


@dataclass(frozen=True)
class Threshold:
    """One threshold: k6's own verdict, and the gate's recomputation from the observed value."""

    metric: str
    expression: str
    ok: bool  # what k6 says (either shape's polarity already applied)
    observed: float | None
    recomputed: bool | None = None  # the expression evaluated on `observed`; None: cannot be
    why_not: str = ""  # why it cannot be recomputed

    @property
    def tags(self) -> dict[str, str]:
        """The sub-metric's tags (``{}`` for a plain metric)."""
        return submetric_tags(self.metric)

    @property
    def agrees(self) -> bool:
        """False when k6's verdict contradicts the recomputation."""
        return self.recomputed is None or self.recomputed == self.ok

    @property
    def verdict(self) -> bool | None:
        """The recomputed outcome; k6's word only for a failure; None when nothing proves a pass."""
        if self.recomputed is not None:
            return self.recomputed
        return None if self.ok else False


@dataclass(frozen=True)
class Summary:
    """What a k6 summary says, independent of its shape."""

    shape: str
    metrics: dict[str, dict[str, float]]
    thresholds: tuple[Threshold, ...]
    checks_passed: int
    checks_failed: int
    duration_ms: float | None
    types: dict[str, str | None] | None = None


def aggregation(expression: str) -> str | None:
    """The aggregation a threshold expression tests (``p(95)``, ``rate``...), None if unreadable."""
    parsed = parse_expression(expression)
    return parsed.aggregation if parsed else None


def read_summary(path: Path) -> Summary:
    """Parse the summary file at ``path``; ParseError names the file and the place."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ParseError(path, "", f"cannot be read: {exc.strerror}") from exc
    except UnicodeDecodeError:
        raise ParseError(path, "", "is not UTF-8 text") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(path, f"line {exc.lineno} column {exc.colno}",
                         f"is not valid JSON ({exc.msg}); the run may have been cut short",
                         "k6 writes the summary when the test ends; a killed k6 leaves none.") from exc
    except RecursionError:
        raise ParseError(path, "", "is nested too deeply to be a k6 summary") from None
    return parse_summary(document, path)


def parse_summary(document: Any, path: Path | str = "<summary>") -> Summary:
    """A validated Summary from a decoded JSON document; every number is checked first."""
    if not isinstance(document, dict) or not isinstance(document.get("metrics"), dict):
        if isinstance(document, dict) and "results" in document and "version" in document:
            raise ParseError(path, "", "is k6's new machine-readable summary, which carries no thresholds",
                             "Use --summary-export (the gate does) or handleSummary data.")
        raise ParseError(path, "", "is not a k6 summary (no 'metrics' object)")
    shape = _shape(document["metrics"], path)
    metrics: dict[str, dict[str, float]] = {}
    types: dict[str, str | None] = {}
    for name, body in document["metrics"].items():
        place = f"metrics.{name}"
        if not isinstance(body, dict):
            raise ParseError(path, place, "is not an object")
        values = metric_values(body, shape, place, path)
        kind = metric_type(body, values, shape, place, path)
        validate_values(name, kind, values, body.get("contains"), place, path)
        metrics[name], types[name] = values, kind
    thresholds = [threshold for name, body in document["metrics"].items()
                  for threshold in _thresholds(name, body.get("thresholds") or {}, metrics[name], types[name],
                                               _samples(name, metrics, types), shape, path)]
    passed, failed = _checks(document.get("root_group") or {}, path, "root_group")
    return Summary(shape, metrics, tuple(thresholds), passed, failed, _duration(document, path), types)


def _duration(document: dict[str, Any], path: Path | str) -> float | None:
    state = document.get("state")
    if not isinstance(state, dict) or state.get("testRunDurationMs") is None:
        return None
    return evidence.non_negative(state["testRunDurationMs"], path, "state.testRunDurationMs")


def _shape(metrics: dict[str, Any], path: Path | str) -> str:
    """Which of the two shapes this is, from evidence inside the metrics; else ParseError."""
    seen: set[str] = set()
    for body in metrics.values():
        if not isinstance(body, dict):
            continue
        if isinstance(body.get("values"), dict):
            seen.add(HANDLE_SUMMARY)
        thresholds = body.get("thresholds") or {}
        for verdict in thresholds.values() if isinstance(thresholds, dict) else ():
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


def _thresholds(metric: str, raw: Any, values: dict[str, float], kind: str | None, samples: int | None,
                shape: str, path: Path | str) -> list[Threshold]:
    if not isinstance(raw, dict):
        raise ParseError(path, f"metrics.{metric}.thresholds", "is not an object")
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
        again = recompute(str(expression), kind, values, samples)
        found.append(Threshold(metric, str(expression), ok, again.observed, again.holds, again.why_not))
    return found


def _samples(name: str, metrics: dict[str, dict[str, float]], types: dict[str, str | None]) -> int | None:
    """How many samples the metric recorded, when the summary tells (None: it does not).

    A trend says so through ``count`` (the gate asks k6 for it); a rate through passes + fails.
    Without ``count``, an HTTP timing sub-metric borrows the number from
    ``http_req_failed`` with the same tags: k6 adds one sample to both for every request.
    """
    values, kind = metrics[name], types[name]
    if kind == "trend" and "count" in values:
        return int(values["count"])
    if kind == "rate" and "passes" in values and "fails" in values:
        return int(values["passes"] + values["fails"])
    base = base_metric(name)
    if kind == "trend" and name != base and base.startswith("http_req_") and base != "http_req_failed":
        sibling = "http_req_failed" + name[len(base):]  # the same {tags}
        if sibling in metrics and types.get(sibling) == "rate":
            return _samples(sibling, metrics, types)
    return None


def _checks(group: Any, path: Path | str, place: str) -> tuple[int, int]:
    """Passes and fails of every check() in the group tree (both shapes nest the same way)."""
    if not isinstance(group, dict):
        raise ParseError(path, place, "is not an object")
    passed = failed = 0
    checks = group.get("checks") or {}
    items = checks.items() if isinstance(checks, dict) else enumerate(checks) if isinstance(checks, list) else None
    if items is None:
        raise ParseError(path, f"{place}.checks", "is neither an object nor a list")
    for key, check in items:
        if not isinstance(check, dict):
            raise ParseError(path, f"{place}.checks[{key!r}]", "is not an object")
        passed += evidence.count(check.get("passes", 0), path, f"{place}.checks[{key!r}].passes")
        failed += evidence.count(check.get("fails", 0), path, f"{place}.checks[{key!r}].fails")
    groups = group.get("groups") or {}
    subs = groups.items() if isinstance(groups, dict) else enumerate(groups) if isinstance(groups, list) else None
    if subs is None:
        raise ParseError(path, f"{place}.groups", "is neither an object nor a list")
    for key, sub in subs:
        p, f = _checks(sub, path, f"{place}.groups[{key!r}]")
        passed, failed = passed + p, failed + f
    return passed, failed
