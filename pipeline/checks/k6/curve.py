"""The capacity curve: latency and errors per time window of a ramping arrival rate, and its knee.

The rate of a window is the request rate k6 achieved in it (requests / window length; k6 stamps an
HTTP sample when the request ends, so it is the rate of completed requests), not the rate it was
asked for: when k6 runs out of VUs or the service stalls, fewer requests complete, and a rate that
was never reached cannot be claimed. The knee is the highest rate among the windows
before the first one that broke the SLA (p95 at or over the limit, or errors over the budget),
so noise after the break cannot raise it. Pure functions, no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from pipeline.checks.k6.aggregate import percentile
from pipeline.checks.k6.samples import Samples


@dataclass(frozen=True)
class Window:
    """One time window of the ramp: when it starts (s after the first request) and what was measured."""

    start_s: float
    rate: float  # requests per second achieved
    p95_ms: float
    error_rate: float
    requests: int

    def held(self, p95_ms: float, budget: float) -> bool:
        """Whether the SLA held in this window: p95 under the limit, errors under the budget (none always holds)."""
        return self.p95_ms < p95_ms and (self.error_rate < budget or self.error_rate == 0)


@dataclass(frozen=True)
class Curve:
    """The windows of a capacity search, in time order."""

    windows: tuple[Window, ...]
    window_s: float


@dataclass(frozen=True)
class Knee:
    """The knee: ``rate`` is None when no window held; ``reached`` False when the top rate still held."""

    rate: float | None
    reached: bool
    top_rate: float

    def words(self) -> str:
        """The knee as a sentence a person reads."""
        if self.rate is None:
            return f"the SLA held at no rate tried (up to {self.top_rate:.1f} req/s)"
        if not self.reached:
            return f"at least {self.rate:.1f} req/s (the SLA still held at the top of the ramp)"
        return f"{self.rate:.1f} req/s"


def curve(samples: Samples, window_s: float) -> Curve:
    """Per full window: achieved request rate, p95 latency and error rate (the last, partial window is left out)."""
    durations = samples.points.get("http_req_duration", [])
    if not durations:
        return Curve((), window_s)
    start = min(s.time for s in durations)
    latency: dict[int, list[float]] = defaultdict(list)
    for sample in durations:
        latency[int((sample.time - start) // window_s)].append(sample.value)
    failed: dict[int, list[float]] = defaultdict(list)
    for sample in samples.points.get("http_req_failed", []):
        failed[int((sample.time - start) // window_s)].append(sample.value)
    last = max(latency)
    windows = []
    for index in range(last if last > 0 else 1):
        values = sorted(latency.get(index, []))
        errors = failed.get(index, [])
        windows.append(Window(index * window_s, len(values) / window_s, percentile(values, 95),
                              sum(1 for e in errors if e) / len(errors) if errors else 0.0, len(values)))
    return Curve(tuple(windows), window_s)


def knee(found: Curve, p95_ms: float, budget: float) -> Knee:
    """The highest rate before the SLA first broke (windows in time order, the ramp rising)."""
    top = max((w.rate for w in found.windows), default=0.0)
    held: list[Window] = []
    for window in found.windows:
        if not window.requests or not window.held(p95_ms, budget):  # no request at all: the service stalled
            return Knee(max((w.rate for w in held), default=None), True, top)
        held.append(window)
    return Knee(max((w.rate for w in held), default=None), False, top)
