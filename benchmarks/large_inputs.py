"""Benchmark: the gate's readers, results, verdict and reports on large inputs, beside the floor.

    python benchmarks/large_inputs.py [--scale 1 2] [--keep DIR]

Generates, in a temporary folder and at each scale: a JUnit file of 100,000 test cases, a
Cobertura report of 500,000 lines, a ZAP report of 2,000 alerts, 300 pins against an OSV
database (``READINESS_OSV_DIR`` when set, else the PyPA database in the shared fixtures, else
a synthetic one of the same shape) and a k6 summary of 200 endpoints. Every measurement runs
in a fresh interpreter (``--measure``): time first, then the peak of Python's allocations
(the growth of the resident set) in the first pass. The floor is the cheapest honest walk of the same input: an
ElementTree ``iterparse`` with elements cleared for XML, ``json.load`` for JSON, a YAML
C-loader pass over the OSV files. The growth column is the time at the largest scale over
the time at the first.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import large_inputs_data as data

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
VERDICT_GOAL_S = 3.0


def _measure(kind: str, folder: Path) -> dict[str, float]:
    """Run one measurement in this interpreter: peak memory of a first pass, then the best time of two.

    Memory is the growth of the peak resident set over what the interpreter held once the
    gate's modules were imported: C-level allocations (expat, ElementTree) count too.
    """
    work = _WORK[kind]
    _import_everything()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started, cpu = time.perf_counter(), time.process_time()
    work(folder)
    timings, cpus = [time.perf_counter() - started], [time.process_time() - cpu]
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    if kind != "results":  # the verdict too: writing its reports again is harmless
        started, cpu = time.perf_counter(), time.process_time()
        work(folder)
        timings.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return {"s": min(timings), "cpu": min(cpus), "mb": peak_kib / 1024}


PAIR_ROUNDS = 7


def _measure_pair(kind: str, folder: Path) -> dict[str, float]:
    """The CPU time of a reader and of its floor, alternated in this interpreter: the best of PAIR_ROUNDS each.

    On a shared or virtual machine a neighbour can slow one whole process by half; alternating
    the two in one process exposes both to the same moments, and the best of seven is the time
    neither was disturbed.
    """
    gate, floor = _WORK[kind], _WORK[f"{kind}-floor"]
    _import_everything()
    best = {"s": float("inf"), "floor_s": float("inf")}
    for _ in range(PAIR_ROUNDS):
        for key, work in (("s", gate), ("floor_s", floor)):
            started = time.process_time()
            work(folder)
            best[key] = min(best[key], time.process_time() - started)
    return best


def _import_everything() -> None:
    import xml.etree.ElementTree  # noqa: F401

    import yaml  # noqa: F401

    import pipeline.checks.audit.offline
    import pipeline.checks.coverage.reports
    import pipeline.checks.k6.summary
    import pipeline.checks.zap.report
    import pipeline.gate
    import pipeline.reporters
    import pipeline.runner  # noqa: F401


def _iterparse_floor(path: Path) -> None:
    from xml.etree.ElementTree import iterparse

    for _event, elem in iterparse(path, events=("end",)):
        elem.get("name")
        elem.clear()


def _json_floor(path: Path) -> None:
    with path.open("rb") as handle:
        json.load(handle)


def _yaml_floor(folder: Path) -> None:
    import yaml

    for path in sorted(folder.rglob("*")):
        if path.suffix in (".yaml", ".yml"):
            yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)
        elif path.suffix == ".json":
            json.loads(path.read_bytes())


def _junit(folder: Path) -> None:
    from pipeline.checks.coverage.reports import read_junit

    read_junit(folder / "junit.xml")


def _cobertura(folder: Path) -> None:
    from pipeline.checks.coverage.reports import read_cobertura

    read_cobertura(folder / "coverage.xml")


def _zap(folder: Path) -> None:
    from pipeline.checks.zap.report import read_json_report

    read_json_report(folder / "zap.json")


def _k6(folder: Path) -> None:
    from pipeline.checks.k6.summary import read_summary

    read_summary(folder / "k6.json")


def _audit(folder: Path) -> None:
    """Load the database as the check does (through the per-machine cache), then match the pins.

    The first pass (memory) fills the cache when it is empty; the timed passes are "a run after the first".
    """
    from pipeline.checks.audit import osvcache
    from pipeline.checks.audit.offline import match_offline
    from pipeline.checks.audit.reports import read_requirements

    pins = tuple(pin for path in sorted(folder.glob("requirements*.txt")) for pin in read_requirements(path))
    database, _ = osvcache.load(Path((folder / "osv-dir.txt").read_text()), osvcache.default_dir(dict(os.environ)))
    match_offline(pins, database)


def _results(folder: Path) -> None:
    """Every check in ingest mode, as ``readiness check`` runs it: parse, evaluate, write the result."""
    from pipeline.gate import load_config
    from pipeline.runner import run_check

    config = load_config(folder / "readiness.yaml")
    for name in ("coverage", "zap", "audit", "k6"):
        run_check(name, config, folder / "reports", folder)


def _verdict(folder: Path) -> None:
    """``readiness verdict``: read the results, decide, write all five reports."""
    from pipeline import reporters
    from pipeline.results import gather
    from pipeline.verdict import decide

    loaded = gather([folder / "reports" / "results"])
    report = decide(loaded.results, loaded.merges, warnings=loaded.warnings)
    reporters.write_reports(report, folder / "reports")


_WORK: dict[str, Callable[[Path], None]] = {
    "junit": _junit, "junit-floor": lambda f: _iterparse_floor(f / "junit.xml"),
    "cobertura": _cobertura, "cobertura-floor": lambda f: _iterparse_floor(f / "coverage.xml"),
    "zap": _zap, "zap-floor": lambda f: _json_floor(f / "zap.json"),
    "k6": _k6, "k6-floor": lambda f: _json_floor(f / "k6.json"),
    "audit": _audit, "audit-floor": lambda f: _yaml_floor(Path((f / "osv-dir.txt").read_text())),
    "results": _results, "verdict": _verdict,
}
INPUTS = ("junit", "cobertura", "zap", "audit", "k6")


def _run(kind: str, folder: Path, how: str = "--measure") -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "READINESS_CACHE_DIR": str(folder.parent / "cache")}
    out = subprocess.run([sys.executable, __file__, how, kind, str(folder)], env=env, cwd=folder,
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{kind} at {folder} failed:\n{out.stderr[-3000:]}")
    measured: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return measured


def _table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-|-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def _inputs_table(numbers: dict[tuple[str, int], dict[str, float]], scales: list[int]) -> None:
    rows = []
    for kind in INPUTS:
        for scale in scales:
            gate, floor = numbers[(kind, scale)], numbers[(f"{kind}-floor", scale)]
            paired = numbers[(f"{kind}-pair", scale)]
            growth = paired["s"] / numbers[(f"{kind}-pair", scales[0])]["s"]
            rows.append([kind, f"{scale}x", f"{paired['s']:.2f}", f"{paired['floor_s']:.2f}",
                         f"{paired['s'] / paired['floor_s']:.2f}", f"{gate['mb']:.0f}", f"{floor['mb']:.0f}",
                         f"{gate['mb'] / max(floor['mb'], 1.0):.1f}", f"{growth:.2f}"])
    _table(f"Readers (CPU seconds: best of {PAIR_ROUNDS}, gate and floor alternated in one fresh interpreter; "
           "MiB: peak RSS growth of a first pass in a fresh interpreter)",
           ["input", "scale", "gate s", "floor s", "x floor", "gate MiB", "floor MiB", "x floor", "growth"], rows)


def _verdict_table(numbers: dict[tuple[str, int], dict[str, float]], sizes: dict[int, dict[str, int]],
                   scales: list[int]) -> None:
    rows = []
    for scale in scales:
        verdict, first = numbers[("verdict", scale)], numbers[("verdict", scales[0])]
        rows.append([f"{scale}x", f"{numbers[('results', scale)]['s']:.2f}", f"{verdict['s']:.2f}",
                     f"{verdict['cpu']:.2f}", f"{verdict['mb']:.0f}", f"{verdict['s'] / first['s']:.2f}",
                     f"{verdict['cpu'] / first['cpu']:.2f}",
                     ", ".join(f"{name} {size / 2**20:.1f}" for name, size in sizes[scale].items())])
    _table(f"Results (4 checks, ingest; one pass) and verdict + 5 reports (best of 2; goal: under "
           f"{VERDICT_GOAL_S:g} s, growth <= 2.2)",
           ["scale", "results s", "verdict s", "verdict CPU s", "verdict MiB", "growth", "CPU growth", "sizes (MiB)"],
           rows)


def _render_s(page: Any, path: Path) -> float:
    """Open ``path``, lay the whole document out and wait for two painted frames: seconds."""
    started = time.perf_counter()
    page.goto(path.as_uri(), wait_until="load")
    page.evaluate("() => new Promise(done => { document.body.scrollHeight;"
                  " requestAnimationFrame(() => requestAnimationFrame(done)); })")
    return time.perf_counter() - started


def chromium_render(pages: list[Path], runs: int = 5) -> list[float] | None:
    """Median render time of each page in headless Chromium (None: Chromium or Playwright is missing)."""
    if not CHROMIUM.exists():
        return None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    medians = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        for path in pages:
            times = []
            for _ in range(runs):
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                times.append(_render_s(page, path))
                page.close()
            medians.append(statistics.median(times))
        browser.close()
    return medians


def _html_table(base: Path, scales: list[int]) -> None:
    empty = base / "empty.html"
    empty.write_text("<!doctype html><title>empty</title>\n", encoding="utf-8")
    pages = [base / f"x{scale}" / "reports" / "readiness.html" for scale in scales]
    timings = chromium_render([empty, *pages])
    if timings is None:
        print("\nreadiness.html in Chromium: not measured (no /usr/bin/chromium or no playwright)")
        return
    rows = [[f"{scale}x", f"{page.stat().st_size / 2**20:.2f}", f"{seconds:.2f}", f"{timings[0]:.2f}",
             f"{seconds - timings[0]:.2f}"] for scale, page, seconds in zip(scales, pages, timings[1:], strict=True)]
    _table("readiness.html in headless Chromium (load, full layout, two frames; median of 5; goal: < 3 MiB, "
           "< 1 s over the empty page)", ["scale", "MiB", "page s", "empty s", "over empty s"], rows)


def main() -> None:
    """Generate the inputs at each scale, measure each in a fresh interpreter, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--keep", type=Path, default=None, help="generate here and keep the files")
    parser.add_argument("--measure", nargs=2, metavar=("KIND", "FOLDER"), help=argparse.SUPPRESS)
    parser.add_argument("--measure-pair", nargs=2, metavar=("KIND", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(_measure(args.measure[0], Path(args.measure[1]))))
        return
    if args.measure_pair:
        print(json.dumps(_measure_pair(args.measure_pair[0], Path(args.measure_pair[1]))))
        return
    base = args.keep or Path(tempfile.mkdtemp(prefix="readiness-bench-"))
    numbers: dict[tuple[str, int], dict[str, float]] = {}
    sizes: dict[int, dict[str, int]] = {}
    for scale in args.scale:
        folder = base / f"x{scale}"
        data.generate(folder, scale)
        for kind in [k for i in INPUTS for k in (i, f"{i}-floor")] + ["results", "verdict"]:
            numbers[(kind, scale)] = _run(kind, folder)
        for kind in INPUTS:
            numbers[(f"{kind}-pair", scale)] = _run(kind, folder, "--measure-pair")
        sizes[scale] = {p.name: p.stat().st_size for p in sorted((folder / "reports").glob("readiness.*"))}
        sizes[scale]["results"] = sum(p.stat().st_size for p in (folder / "reports" / "results").glob("*.json"))
    print(f"inputs in {base}; OSV database: {data.osv_source()}")
    _inputs_table(numbers, args.scale)
    _verdict_table(numbers, sizes, args.scale)
    _html_table(base, args.scale)
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall times grow with it, CPU less)")
    audit = [numbers[("audit", s)]["s"] for s in args.scale]
    print(f"\naudit (load + match 300 pins), median over scales: {statistics.median(audit):.2f} s")


if __name__ == "__main__":
    main()
