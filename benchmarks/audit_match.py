"""Benchmark: load an OSV database once, then match a 300-pin requirements set against it.

    python benchmarks/audit_match.py [OSV_DIR] [--pins 300] [--repeat 5]

OSV_DIR defaults to ../shared/fixtures/real/osv/pypa-advisory-database. Prints a table:
load time, match time per repeat (median, max), and matches found. The target is a match
well under a second after loading.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from pipeline.checks.audit import osv
from pipeline.checks.audit.offline import match_offline
from pipeline.checks.audit.reports import Dependency

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DEFAULT_DB = SHARED / "fixtures" / "real" / "osv" / "pypa-advisory-database"


def pins_from(db: osv.Database, count: int) -> tuple[Dependency, ...]:
    """``count`` pins over the database's own packages: old versions (often affected) and new ones."""
    names = sorted({name for (ecosystem, name) in db.index if ecosystem == osv.PYPI})
    pins = []
    for i in range(count):
        name = names[i % len(names)]
        pins.append(Dependency("PyPI", name, "0.9" if i % 2 else "999.0", f"bench.txt:{i + 1}"))
    return tuple(pins)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("osv_dir", nargs="?", type=Path, default=DEFAULT_DB)
    parser.add_argument("--pins", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    db = osv.load_database(args.osv_dir)
    load_s = time.perf_counter() - started
    pins = pins_from(db, args.pins)
    timings, found, undecided = [], 0, 0
    for _ in range(args.repeat):
        started = time.perf_counter()
        matched = match_offline(pins, db)
        timings.append(time.perf_counter() - started)
        found, undecided = len(matched.vulnerabilities), len(matched.undecided)
    rows = [
        ("records loaded", f"{db.records} (+{db.withdrawn} withdrawn, {len(db.problems)} unreadable)"),
        ("load database (once per run)", f"{load_s * 1000:.0f} ms"),
        (f"match {len(pins)} pins, median of {args.repeat}", f"{statistics.median(timings) * 1000:.1f} ms"),
        (f"match {len(pins)} pins, slowest", f"{max(timings) * 1000:.1f} ms"),
        ("vulnerabilities matched", str(found)),
        ("pins undecided (a record's range bound is not a version)", str(undecided)),
        ("load / match ratio", f"{load_s / statistics.median(timings):.0f}x"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)} | value")
    print(f"{'-' * width}-|-{'-' * 30}")
    for name, value in rows:
        print(f"{name.ljust(width)} | {value}")


if __name__ == "__main__":
    main()
