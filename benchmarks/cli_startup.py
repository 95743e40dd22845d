"""How long ``readiness`` takes to start: this tree against a baseline commit, median of N runs.

    python benchmarks/cli_startup.py                  # against main
    python benchmarks/cli_startup.py --baseline HEAD~3 --runs 7

Each command runs as a fresh process (``python -m pipeline ...``) with PYTHONPATH pointing at the
tree measured, so both use the same interpreter and installed libraries. The goal (issue 19):
``readiness --help`` under 0.3 s; ``python -X importtime -m pipeline --help`` shows what it loads.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (("--help",), ("--version",), ("check", "--help"), ("checks", "--json"))
TARGET_S = {"--help": 0.3}


def startup(tree: Path, args: tuple[str, ...], runs: int, cwd: Path) -> float | None:
    """Median wall time of ``python -m pipeline ARGS`` with ``tree`` first on the path (None: no such command)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    argv = [sys.executable, "-m", "pipeline", *args]
    if subprocess.run(argv, cwd=cwd, env=env, capture_output=True).returncode != 0:  # also warms the .pyc files
        return None
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _cell(seconds: float | None, width: int) -> str:
    return f"{seconds:>{width}.3f}" if seconds is not None else f"{'n/a':>{width}}"


def export(ref: str, into: Path) -> Path:
    """The files of commit ``ref`` (git archive) in ``into``."""
    archive = into / "tree.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", ref], cwd=ROOT, stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")
    return into / "tree"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="main", help="git commit to compare with (default: main)")
    parser.add_argument("--runs", type=int, default=5, help="runs per command (median reported)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        baseline = export(options.baseline, Path(tmp))
        python = sys.version.split()[0]
        print(f"readiness start-up, median of {options.runs} runs; baseline {options.baseline}, python {python}")
        print(f"{'command':<22}{'baseline s':>12}{'this tree s':>13}{'ratio':>8}{'goal':>8}")
        for args in COMMANDS:
            before = startup(baseline, args, options.runs, Path(tmp))
            after = startup(ROOT, args, options.runs, Path(tmp))
            goal = TARGET_S.get(" ".join(args))
            ratio = f"{after / before:.2f}" if before and after else "n/a"
            print(f"{' '.join(args):<22}{_cell(before, 12)}{_cell(after, 13)}{ratio:>8}"
                  f"{f'< {goal}' if goal else '':>8}")


if __name__ == "__main__":
    main()
