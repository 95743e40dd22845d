"""Gate overhead: what a warm ``nox`` spends outside the tools themselves, beside the floor.

    python benchmarks/gate_overhead.py [-- NOX_GATE_OPTIONS]

Runs ``nox --report FILE`` in this repository (run it once before, so that the gate's
environment is built: the run measured is a warm one), then takes each session's time from
Nox's report and each check's own time from its result (``duration_s``: from the check's
start to its result, the tool's run, its parsing and its rules included). Starting and
stopping the service under test (PostgreSQL, migrations, seed, the service: tools too) are
taken from the session log ("the service under test is up (S s)", "... stopped (S s)") and
shown as the target's. A session's overhead is the rest of its time: handing the command to
the run's gate process (``readiness batch``), loading the config, writing the result; the
first session also pays for starting that process and importing the gate once.
Nox itself (reading the noxfile, the cached session list, ending) is the total minus the sessions.
The floor is one bare ``python -c pass`` per session: what a process-per-session design pays at least.
The goal (issue 19): no more than 3 s outside the tools across all sessions.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_S = 3.0
GATE_PYTHON = ROOT / ".nox" / "_gate" / "bin" / "python"


def run_nox(report: Path, gate_options: list[str]) -> tuple[float, str]:
    """One ``nox`` run with a JSON report; its wall time and its log."""
    nox = Path(sys.executable).with_name("nox")
    argv = [str(nox) if nox.exists() else "nox", "--report", str(report)]
    argv += ["--", *gate_options] if gate_options else []
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    return time.perf_counter() - started, done.stderr


# What the noxfile logs around the service under test (noxfile.py, _start_target and _stop_target).
TARGET_LINE = re.compile(r"the service under test is (?:up|stopped) \((?P<s>[0-9.]+) s\)")
SESSION_LINE = re.compile(r"Running session (?P<name>\S+)")


def target_times(log: str) -> dict[str, float]:
    """Per session, the seconds spent starting or stopping the service under test (a tool's time)."""
    times: dict[str, float] = {}
    session = ""
    for line in log.splitlines():
        if started := SESSION_LINE.search(line):
            session = started.group("name")
        elif target := TARGET_LINE.search(line):
            times[session] = times.get(session, 0.0) + float(target.group("s"))
    return times


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


def rows(sessions: list[dict[str, object]], own: dict[str, float],
         target: dict[str, float]) -> tuple[list[list[str]], float]:
    """The table's rows and the overhead across sessions."""
    table, across = [], 0.0
    for session in sessions:
        name, duration = str(session["name"]), float(str(session["duration"]))
        tools = own.get(name, 0.0) + target.get(name, 0.0)
        across += duration - tools
        table.append([name, f"{duration:.2f}", f"{own.get(name, 0.0):.2f}", f"{target.get(name, 0.0):.2f}",
                      f"{duration - tools:.2f}", str(session["result"])])
    return table, across


def main() -> None:
    """Run nox once, print the table."""
    gate_options = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "nox.json"
        total, log = run_nox(report, gate_options)
        sessions = json.loads(report.read_text(encoding="utf-8"))["sessions"]
    own = check_times(ROOT / "reports" / "results")
    table, across = rows(sessions, own, target_times(log))
    nox_itself = total - sum(float(s["duration"]) for s in sessions)
    python = str(GATE_PYTHON) if GATE_PYTHON.exists() else sys.executable
    floor = bare_start(python) * len(sessions)
    print(f"warm nox on this repository: {len(sessions)} sessions, {total:.1f} s in all; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'session':<12}{'nox s':>9}{'check s':>10}{'target s':>10}{'outside s':>11}  result")
    for name, nox_s, own_s, target_s, outside_s, result in table:
        print(f"{name:<12}{nox_s:>9}{own_s:>10}{target_s:>10}{outside_s:>11}  {result}")
    print(f"{'nox itself':<12}{'':>9}{'':>10}{'':>10}{nox_itself:>11.2f}")
    overhead = across + nox_itself
    print(f"\noutside the tools: {overhead:.2f} s (goal <= {GOAL_S:g} s); floor "
          f"({len(sessions)} x python -c pass): {floor:.2f} s; ratio {overhead / floor:.1f}x the floor")


if __name__ == "__main__":
    main()
