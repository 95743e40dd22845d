"""k6's summary statistics recomputed from raw samples, so that several instances can be judged as one run.

Percentiles cannot be merged from per-instance summaries (the p95 of a union is not any mean of
p95s), so the gate merges the samples and computes every statistic over the union, the way k6
computes it over one instance:

- a trend's ``p(N)`` is k6's ``TrendSink.P``: over the sorted values, the linear interpolation at
  rank ``N/100 * (count - 1)``; ``med`` is ``p(50)``, ``avg`` the mean;
- a rate is the share of non-zero samples (``passes``), ``fails`` the zero ones;
- a counter's ``count`` is the sum, its ``rate`` the sum per second of the test's duration;
- a gauge's ``value`` is the last sample (by time), with ``min`` and ``max``.

A sub-metric ``metric{tag:value,...}`` holds the samples whose tags include every pair.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from pipeline.checks.k6.metrics import base_metric, submetric_tags
from pipeline.checks.k6.samples import Sample, Samples
from pipeline.checks.k6.summary import Summary, Threshold
from pipeline.checks.k6.thresholds import parse_expression, recompute

RAW_SAMPLES = "raw-samples"
_HEADLINE = ("http_req_duration", "http_req_failed", "http_reqs", "iterations", "checks", "vus_max",
             "data_sent", "data_received")
_TREND_STATS = ("avg", "min", "med", "max", "p(90)", "p(95)", "p(99)")
_PER_ENDPOINT = ("http_req_duration", "http_req_failed")


def percentile(ordered: Sequence[float], pct: float) -> float:
    """k6's percentile of sorted values: linear interpolation at rank ``pct/100 * (n - 1)``."""
    if not ordered:
        return 0.0
    rank = pct / 100 * (len(ordered) - 1)
    low, high = ordered[math.floor(rank)], ordered[math.ceil(rank)]
    return low + (high - low) * (rank - math.floor(rank))


def trend(values: Iterable[float], percentiles: Iterable[float] = ()) -> dict[str, float]:
    """A trend's statistics: avg, min, med, max, count and p(90), p(95), p(99) plus ``percentiles``."""
    ordered = sorted(values)
    if not ordered:
        return {"count": 0.0}
    stats = {"avg": math.fsum(ordered) / len(ordered), "min": ordered[0], "med": percentile(ordered, 50),
             "max": ordered[-1], "count": float(len(ordered))}
    for pct in {90.0, 95.0, 99.0, *percentiles}:
        stats[f"p({pct:g})"] = percentile(ordered, pct)
    return stats


def rate(values: Iterable[float]) -> dict[str, float]:
    """A rate's passes (non-zero samples), fails and their ratio (0 when there is no sample)."""
    passes = fails = 0
    for value in values:
        if value:
            passes += 1
        else:
            fails += 1
    total = passes + fails
    return {"rate": passes / total if total else 0.0, "passes": float(passes), "fails": float(fails)}


def statistics(kind: str | None, samples: Sequence[Sample], duration_s: float | None,
               percentiles: Iterable[float] = ()) -> dict[str, float]:
    """The summary values of one (sub-)metric of type ``kind``."""
    values = [s.value for s in samples]
    if kind == "trend":
        return trend(values, percentiles)
    if kind == "rate":
        return rate(values)
    if kind == "counter":
        total = math.fsum(values)
        return {"count": total, **({"rate": total / duration_s} if duration_s else {})}
    if kind == "gauge" and samples:
        last = max(samples, key=lambda s: s.time)
        return {"value": last.value, "min": min(values), "max": max(values)}
    return {}


def select(samples: Sequence[Sample], tags: Mapping[str, str]) -> list[Sample]:
    """The samples whose tags include every pair of ``tags``."""
    if not tags:
        return list(samples)
    wanted = set(tags.items())
    return [s for s in samples if wanted <= set(s.tags)]


def endpoints(samples: Samples) -> list[str]:
    """Every ``name`` tag value of the HTTP requests."""
    names = {value for s in samples.points.get("http_req_duration", ()) for key, value in s.tags if key == "name"}
    return sorted(names)


def samples_summary(samples: Samples, thresholds: Sequence[tuple[str, str]],
                    duration_s: float | None) -> Summary:
    """A Summary computed from raw samples, every threshold recomputed on the union of them.

    Nothing here is k6's word: each threshold's ``ok`` is the recomputed outcome (k6 judged only
    its own segment), and one that cannot be recomputed stays unproven.
    """
    keys = dict.fromkeys([*(m for m in _HEADLINE if m in samples.types), *(m for m, _ in thresholds),
                          *(f"{m}{{name:{n}}}" for n in endpoints(samples) for m in _PER_ENDPOINT)])
    asked = [p.percentile for _, e in thresholds if (p := parse_expression(e)) and p.percentile is not None]
    metrics: dict[str, dict[str, float]] = {}
    types: dict[str, str | None] = {}
    for key in keys:
        base = base_metric(key)
        types[key] = samples.types.get(base)
        chosen = select(samples.points.get(base, ()), submetric_tags(key))
        metrics[key] = statistics(types[key], chosen, duration_s, asked)
    judged = []
    for metric, expression in thresholds:
        count = len(select(samples.points.get(base_metric(metric), ()), submetric_tags(metric)))
        again = recompute(expression, types[metric], metrics[metric], count)
        judged.append(Threshold(metric, expression, again.holds is not False, again.observed, again.holds,
                                again.why_not))
    checks = metrics.get("checks", {})
    return Summary(RAW_SAMPLES, metrics, tuple(judged), int(checks.get("passes", 0)), int(checks.get("fails", 0)),
                   None if duration_s is None else duration_s * 1000, types)
