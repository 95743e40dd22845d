"""Benchmark: load a 10,000-run history and draw its trends into the HTML report.

    python benchmarks/history_trends.py [--runs 10000] [--repeat 5]

Writes a synthetic history (the figures of the bundled example: coverage, p95 of five
endpoints, vulnerabilities by severity, findings of seven checks, gate duration) with
one corrupt line, then times reading it, computing the trends and rendering the page.
Prints a table; the target is well under a second for the whole.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipeline import history
from pipeline.model import CheckResult, Status
from pipeline.reporters import html
from pipeline.verdict import decide

ENDPOINTS = ("orders_by_customer", "orders_by_status", "get_order", "get_customer", "create_order")
CHECKS = ("coverage", "openapi", "zap", "audit", "k6", "explain", "dashboards")


def figures(n: int) -> dict[str, float]:
    """The key figures of run ``n`` (a slow drift, so the lines have a shape)."""
    found: dict[str, float] = {"coverage: line rate": 0.9 + (n % 50) / 1000, "gate: duration s": 60 + n % 7}
    found.update({f"p95: {e}": 40 + (n + i) % 30 for i, e in enumerate(ENDPOINTS)})
    found.update({f"vulnerabilities: {s}": (n + i) % 3 for i, s in enumerate(("critical", "high", "medium", "low"))})
    found.update({f"findings: {c}": (n * (i + 1)) % 5 for i, c in enumerate(CHECKS)})
    return found


def write_history(folder: Path, runs: int) -> Path:
    """``runs`` lines, written in one go (appending each would time the writes, not the reading)."""
    lines = [json.dumps({"schema": history.HISTORY_SCHEMA, "generated_at": f"2026-01-01T00:00:{n}",
                                 "verdict": "ready", "service": "orders", "figures": figures(n)})
             for n in range(runs)]
    lines.insert(runs // 2, "{corrupt")
    path = folder / history.HISTORY_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def timed(step: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    """Seconds per repeat, and the last value."""
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = step()
        times.append(time.perf_counter() - start)
    return times, value


def main() -> None:
    """Write the history, time the three steps, print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        size = write_history(folder, args.runs).stat().st_size
        load_s, loaded = timed(lambda: history.load(folder), args.repeat)
        tail_s, _ = timed(lambda: history.load(folder, last=history.TREND_RUNS), args.repeat)
        trend_s, trends = timed(lambda: history.trends(loaded.runs), args.repeat)
        report = replace(decide([CheckResult("coverage", Status.PASS, "ok")], mandatory=("coverage",)),
                         trends=tuple(trends))
        render_s, page = timed(lambda: html.render(report), args.repeat)
    total = [a + b + c for a, b, c in zip(load_s, trend_s, render_s, strict=True)]
    print(f"history: {args.runs} runs, {size / 1e6:.1f} MB, {len(loaded.runs)} read, "
          f"{len(loaded.warnings)} warning(s); {len(trends)} trends; page {len(page) / 1e3:.0f} kB")
    print(f"{'step':<24}{'median s':>10}{'max s':>10}")
    rows = (("load whole history", load_s), ("load last runs only", tail_s), ("compute trends", trend_s),
            ("render HTML", render_s), ("total (whole history)", total))
    for name, times in rows:
        print(f"{name:<24}{statistics.median(times):>10.3f}{max(times):>10.3f}")
    print(f"target: total < 1 s -> {'met' if max(total) < 1 else 'NOT met'}")


if __name__ == "__main__":
    main()
