"""Gate overhead: what a warm ``nox`` spends outside the tools themselves, beside the floor.

    python benchmarks/gate_overhead.py [-- NOX_GATE_OPTIONS]

Runs ``nox --report FILE`` in this repository (run it once before, so that the gate's
environment is built: the run measured is a warm one), then takes each session's time from
Nox's report and each check's own time from its result (``duration_s``: from the check's
start to its result, the tool's run, its parsing and its rules included). A session's
overhead is its time minus its check's own time: the ``readiness`` process starting,
importing, loading the config and writing the result. The session that starts the service
under test (PostgreSQL, migrations, seed, the service: tools too) is charged the median
overhead of the other check sessions; the rest of its time is shown as the target's start.
Nox itself (reading the noxfile, the cached session list) is the total minus the sessions.
The floor is one bare ``python -c pass`` per session: what any process-per-session design pays.
The goal (issue 19): no more than 3 s outside the tools across all sessions.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_S = 3.0
GATE_PYTHON = ROOT / ".nox" / "_gate" / "bin" / "python"


def run_nox(report: Path, gate_options: list[str]) -> float:
    """One ``nox`` run with a JSON report; its wall time."""
    nox = Path(sys.executable).with_name("nox")
    argv = [str(nox) if nox.exists() else "nox", "--report", str(report)]
    argv += ["--", *gate_options] if gate_options else []
    started = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def check_times(results: Path) -> dict[str, float]:
    """Each check's own time (``duration_s``) from its result file."""
    times = {}
    for path in sorted(results.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        times[path.stem] = float(data.get("duration_s", 0.0))
    return times


def bare_start(python: str, runs: int = 5) -> float:
    """Median wall time of ``python -c pass``."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([python, "-c", "pass"], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def first_needing_target() -> str | None:
    """The first check session that needs the service under test: it starts it (the noxfile's cached registry)."""
    try:
        checks = json.loads((ROOT / ".nox" / "_gate" / ".readiness-checks.json").read_text(encoding="utf-8"))["checks"]
    except (OSError, ValueError, KeyError):
        return None
    return next((str(c["name"]) for c in checks if c.get("needs_target")), None)


def rows(sessions: list[dict[str, object]], own: dict[str, float]) -> tuple[list[list[str]], float, float]:
    """The table's rows, the overhead across sessions and the target's estimated start."""
    outside = {str(s["name"]): float(str(s["duration"])) - own.get(str(s["name"]), 0.0) for s in sessions}
    starter = first_needing_target()
    others = [name for name in outside if name in own and name != starter]
    typical = statistics.median(outside[name] for name in others) if others else 0.0
    target = 0.0
    if starter in outside:
        target = max(outside[starter] - typical, 0.0)
        outside[starter] = min(outside[starter], typical)
    table = [[str(s["name"]), f"{float(str(s['duration'])):.2f}", f"{own.get(str(s['name']), 0.0):.2f}",
              f"{outside[str(s['name'])]:.2f}", str(s["result"])] for s in sessions]
    return table, sum(outside.values()), target


def main() -> None:
    """Run nox once, print the table."""
    gate_options = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "nox.json"
        total = run_nox(report, gate_options)
        sessions = json.loads(report.read_text(encoding="utf-8"))["sessions"]
    own = check_times(ROOT / "reports" / "results")
    table, across, target = rows(sessions, own)
    nox_itself = total - sum(float(s["duration"]) for s in sessions)
    python = str(GATE_PYTHON) if GATE_PYTHON.exists() else sys.executable
    floor = bare_start(python) * len(sessions)
    print(f"warm nox on this repository: {len(sessions)} sessions, {total:.1f} s in all; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'session':<12}{'nox s':>9}{'check s':>10}{'outside s':>11}  result")
    for name, nox_s, own_s, outside_s, result in table:
        print(f"{name:<12}{nox_s:>9}{own_s:>10}{outside_s:>11}  {result}")
    if target:
        print(f"{'(target)':<12}{'':>9}{target:>10.2f}{'':>11}  the service under test's start (a tool)")
    print(f"{'nox itself':<12}{'':>9}{'':>10}{nox_itself:>11.2f}")
    overhead = across + nox_itself
    print(f"\noutside the tools: {overhead:.2f} s (goal <= {GOAL_S:g} s); floor "
          f"({len(sessions)} x python -c pass): {floor:.2f} s; ratio {overhead / floor:.1f}x the floor")


if __name__ == "__main__":
    main()
