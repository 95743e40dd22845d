"""The run history (``--history DIR``): one JSON line per run in ``DIR/history.jsonl``, and its trends.

Appending never loses what is there: the file is copied byte for byte with the new line
added, written to a temporary file, synced and renamed over the old one, under a lock so
that two runs appending at once both land. A line that cannot be read (corrupt,
truncated by a crash of another tool, hand-edited) is reported with its number and
skipped when reading; it stays in the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.model import write_bytes_atomic
from pipeline.verdict import VerdictReport

HISTORY_SCHEMA = "readiness.history/1"
HISTORY_FILE = "history.jsonl"
TREND_RUNS = 20  # how many of the last runs a trend chart draws
MAX_TRENDS = 40
MAX_WARNINGS = 5


@dataclass(frozen=True)
class Loaded:
    """The runs a history holds (oldest first), and what could not be read."""

    runs: tuple[dict[str, Any], ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Trend:
    """One key figure over the last runs (None where a run did not have it)."""

    name: str
    values: tuple[float | None, ...]
    stamps: tuple[str, ...]


def entry(report: VerdictReport, figures: dict[str, float]) -> dict[str, Any]:
    """The history line of one verdict: when, which verdict, which service and commit, its key figures."""
    return {"schema": HISTORY_SCHEMA, "generated_at": report.generated_at, "verdict": report.verdict.value,
            "service": report.environment.get("service"), "git_commit": report.environment.get("git_commit"),
            "figures": figures}


def append(folder: Path, line: dict[str, Any]) -> list[str]:
    """Append ``line`` to the history atomically; returns warnings (a last line that was cut short)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / HISTORY_FILE
    text = json.dumps(line, sort_keys=True, allow_nan=False, separators=(",", ":")).encode() + b"\n"
    warnings = []
    with _locked(folder):
        old = path.read_bytes() if path.exists() else b""
        if old and not old.endswith(b"\n"):
            warnings.append(f"{path}: its last line was cut short (no line end); it is kept as it is and "
                            "this run's line starts on a new one")
            old += b"\n"
        write_bytes_atomic(path, old + text)
    return warnings


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    with (folder / ".history.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load(folder: Path, last: int | None = None) -> Loaded:
    """The readable runs of the history in ``folder``, oldest first: all, or the ``last`` ones (read from
    the end, so a long history costs only what is drawn); none when there is no history yet."""
    path = folder / HISTORY_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Loaded(())
    except OSError as exc:
        return Loaded((), (f"{path}: the history cannot be read ({exc.strerror}); no trends drawn",))
    runs: list[dict[str, Any]] = []
    bad: list[int] = []
    lines = raw.splitlines()
    for number in range(len(lines), 0, -1):
        if last is not None and len(runs) >= last:
            break
        if not lines[number - 1].strip():
            continue
        run = _run(lines[number - 1])
        if run is None:
            bad.insert(0, number)
        else:
            runs.insert(0, run)
    warnings = []
    if bad:
        shown = ", ".join(map(str, bad[:MAX_WARNINGS])) + (f" and {len(bad) - MAX_WARNINGS} more" if
                                                           len(bad) > MAX_WARNINGS else "")
        warnings.append(f"{path}: line(s) {shown} are corrupt or truncated and were skipped (they stay in the file)")
    return Loaded(tuple(runs), tuple(warnings))


def _run(line: bytes) -> dict[str, Any] | None:
    try:
        run = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(run, dict) or run.get("schema") != HISTORY_SCHEMA or not isinstance(run.get("figures"), dict):
        return None
    if not isinstance(run.get("generated_at"), str) or not isinstance(run.get("verdict"), str):
        return None
    return run


def trends(runs: tuple[dict[str, Any], ...], last: int = TREND_RUNS) -> list[Trend]:
    """One trend per key figure of the last ``last`` runs, in the order the figures first appear."""
    window = runs[-last:]
    names: dict[str, None] = {}
    for run in window:
        names.update(dict.fromkeys(str(k) for k in run["figures"]))
    stamps = tuple(str(run["generated_at"]) for run in window)
    return [Trend(name, tuple(_number(run["figures"].get(name)) for run in window), stamps)
            for name in list(names)[:MAX_TRENDS]]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)
