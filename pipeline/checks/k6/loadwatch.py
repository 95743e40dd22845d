"""Watch the load generator: the CPU k6 used and the machine's load while k6 ran.

A load test measures the service only while the generator keeps up. k6 that is short of
CPU sends late and times late, so its latencies measure its own queue; an arrival-rate
scenario whose VU pool runs dry drops iterations. ``Watcher`` samples, about once a second,
the CPU of the k6 process and its children (percent of one core) and of the whole machine
(percent of all cores), with psutil. ``generator_warnings`` picks k6's own complaints about
the generator out of its log. The policy judges these facts (policy.py); nothing here does.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

LOADWATCH_SCHEMA = "readiness.k6-loadwatch/1"
# What k6 v1.1 logs when the generator, not the service, ran short (verified with the real
# binary): an arrival-rate executor whose VU pool is exhausted, and the machine's own limits on
# sockets and ports. Matched as fixed text inside k6's log lines.
GENERATOR_WARNINGS = ("Insufficient VUs", "too many open files", "cannot assign requested address")
INSTALL_PSUTIL = "pip install 'readiness-gate[load]' (psutil) to watch the load generator"


@dataclass(frozen=True)
class Sample:
    """One sample: seconds since the watch began, k6's CPU (% of one core), the machine's (% of all cores),
    and how long k6's threads waited for a CPU on average each time they became runnable (ms; None where the
    kernel does not say: /proc/<pid>/task/<tid>/schedstat)."""

    t_s: float
    k6_cpu: float
    machine_cpu: float
    load1: float
    k6_wait_ms: float | None = None


@dataclass(frozen=True)
class LoadWatch:
    """What is known of the generator during a run; ``watched`` False says why not in ``why_not``."""

    watched: bool
    why_not: str = ""
    cores: int = 0
    interval_s: float = 1.0
    samples: tuple[Sample, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """The JSON evidence form (``readiness.k6-loadwatch/1``)."""
        return {"schema": LOADWATCH_SCHEMA, **asdict(self), "summary": machine_summary(self)}


def machine_summary(watch: LoadWatch) -> dict[str, float | int | None]:
    """Medians and peaks of k6's and the machine's CPU, and the load average at the end."""
    k6 = sorted(s.k6_cpu for s in watch.samples)
    machine = sorted(s.machine_cpu for s in watch.samples)
    waits = sorted(s.k6_wait_ms for s in watch.samples if s.k6_wait_ms is not None)
    return {"samples": len(watch.samples), "cores": watch.cores,
            "k6_cpu_median": _median(k6), "k6_cpu_max": _peak(k6),
            "k6_wait_ms_median": _median(waits, 2), "k6_wait_ms_max": _peak(waits, 2),
            "machine_cpu_median": _median(machine), "machine_cpu_max": _peak(machine),
            "load1_end": watch.samples[-1].load1 if watch.samples else None}


def _median(values: list[float], digits: int = 1) -> float | None:
    if not values:
        return None
    middle = len(values) // 2
    return round(values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2, digits)


def _peak(values: list[float], digits: int = 1) -> float | None:
    """The largest value, rounded like the median (a rounded median above an unrounded peak read as nonsense:
    "median 0.1, max 0.06")."""
    return round(max(values), digits) if values else None


def not_watched(why: str) -> LoadWatch:
    """A run whose generator nobody could watch, and why."""
    return LoadWatch(False, why)


def generator_warnings(log: str) -> tuple[str, ...]:
    """The lines of k6's log in which it says the generator could not keep up (each once)."""
    seen: dict[str, None] = {}
    for line in log.splitlines():
        if any(marker in line for marker in GENERATOR_WARNINGS):
            seen.setdefault(line.strip()[:300], None)
    return tuple(seen)


def write_evidence(watch: LoadWatch, path: Path) -> Path:
    """The samples and the summary as JSON evidence."""
    path.write_text(json.dumps(watch.to_dict(), indent=1), encoding="utf-8")
    return path


class Watcher:
    """A thread sampling the process whose command line holds ``marker`` (and its children).

    The process is looked for among this process's descendants, so a wrapper script that
    runs k6 (as the fault matrix does) is watched with the k6 it starts.
    """

    def __init__(self, marker: str, interval_s: float = 1.0) -> None:
        self.marker, self.interval_s = marker, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="k6-loadwatch", daemon=True)
        self._samples: list[Sample] = []
        self._why_not = ""

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def result(self, warnings: tuple[str, ...] = ()) -> LoadWatch:
        """What was sampled (call after the ``with`` block)."""
        if self._why_not:
            return replace(not_watched(self._why_not), warnings=warnings)
        return LoadWatch(True, "", os.cpu_count() or 1, self.interval_s, tuple(self._samples), warnings)

    def _run(self) -> None:
        try:
            import psutil
        except ImportError:
            self._why_not = f"psutil is not installed: {INSTALL_PSUTIL}"
            return
        try:
            self._sample(psutil)
        except Exception as exc:  # a watcher that breaks must say so, never stop the run
            self._why_not = f"sampling the load generator failed: {exc}"

    def _sample(self, psutil: Any) -> None:
        root = self._find(psutil)
        if root is None:
            if not self._stop.is_set():
                self._why_not = "the k6 process was not found among the gate's children"
            return
        started = last = time.monotonic()
        busy, machine, sched = _tree_cpu(psutil, root), psutil.cpu_times(), _tree_sched(psutil, root)
        while not self._stop.wait(self.interval_s):
            now, busy_now, machine_now = time.monotonic(), _tree_cpu(psutil, root), psutil.cpu_times()
            sched_now = _tree_sched(psutil, root)
            if busy_now is None:  # k6 has exited: the last interval is not a sample of the run
                return
            k6 = 100.0 * (busy_now - (busy or 0.0)) / max(now - last, 1e-6)
            self._samples.append(Sample(round(now - started, 2), round(max(k6, 0.0), 1),
                                        _machine_busy(machine, machine_now), round(os.getloadavg()[0], 2),
                                        _mean_wait_ms(sched, sched_now)))
            last, busy, machine, sched = now, busy_now, machine_now, sched_now

    def _find(self, psutil: Any) -> Any:
        """The watched process, polled for until it appears or the watch ends."""
        me = psutil.Process()
        while not self._stop.is_set():
            for child in me.children(recursive=True):
                try:
                    if any(self.marker in part for part in child.cmdline()):
                        return child
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
            self._stop.wait(0.05)
        return None


def _tree_cpu(psutil: Any, root: Any) -> float | None:
    """CPU seconds of ``root`` and its live descendants (and the children it has reaped); None once it is gone."""
    try:
        times = root.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        children = root.children(recursive=True)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    for child in children:
        try:
            times = child.cpu_times()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        total += times.user + times.system
    return float(total)


def _tree_sched(psutil: Any, root: Any) -> tuple[int, int] | None:
    """Nanoseconds the tree's threads waited on a run queue, and how many times they ran; None: not known.

    From /proc/<pid>/task/<tid>/schedstat (time on the CPU, time waiting for it, timeslices).
    """
    try:
        pids = [root.pid, *(child.pid for child in root.children(recursive=True))]
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    waited = slices = 0
    for pid in pids:
        task = Path(f"/proc/{pid}/task")
        try:
            threads = list(task.iterdir())
        except OSError:
            continue
        for thread in threads:
            try:
                fields = (thread / "schedstat").read_text().split()
                waited, slices = waited + int(fields[1]), slices + int(fields[2])
            except (OSError, IndexError, ValueError):
                continue
    return (waited, slices) if slices else None


def _mean_wait_ms(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The mean wait for a CPU per timeslice between two readings, in ms (None when unknown)."""
    if before is None or after is None or after[1] <= before[1] or after[0] < before[0]:
        return None
    return round((after[0] - before[0]) / 1e6 / (after[1] - before[1]), 2)


def _machine_busy(before: Any, after: Any) -> float:
    """Percent of all cores busy between two ``psutil.cpu_times()`` readings."""
    idle = (after.idle - before.idle) + (getattr(after, "iowait", 0.0) - getattr(before, "iowait", 0.0))
    # Linux counts guest time inside user time already.
    counted = [name for name in after._fields if name not in ("guest", "guest_nice")]
    total = sum(getattr(after, name) - getattr(before, name) for name in counted)
    return round(max(0.0, min(100.0, 100.0 * (total - idle) / total)) if total > 0 else 0.0, 1)
