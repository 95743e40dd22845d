"""Plan shapes kept between runs (``evidence/explain-plans.json``) or read from a baseline.

The history file is read back from disk, so it is untrusted input like any other: a
malformed previous history is set aside with a note (and rewritten), a malformed or
missing configured baseline is an error, since the user asked for the comparison.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from pipeline.errors import ArtifactMissing, ParseError
from pipeline.model import RESULT_SCHEMA

HISTORY_FILE = "explain-plans.json"
HISTORY_SCHEMA = "readiness.explain-plans/1"


def read_history(path: Path, *, required: bool) -> tuple[dict[str, list[str]], str | None]:
    """Plan shapes by query key, and a note when a previous history had to be set aside.

    Reads our history file or an explain result file (the ``shape`` of its ``plan`` views).
    ``required`` (a configured baseline): missing or malformed raises instead.
    """
    try:
        return _shapes(json.loads(path.read_text(encoding="utf-8")), path), None
    except FileNotFoundError:
        if required:
            raise ArtifactMissing(f"the plan baseline {path} does not exist",
                                  "Point checks.explain.baseline at a plan history or an explain result "
                                  "file, or remove the key to compare with the previous run.") from None
        return {}, None
    except (OSError, ValueError, RecursionError, ParseError) as exc:  # JSON and UTF-8 errors are ValueErrors
        problem = exc if isinstance(exc, ParseError) else ParseError(path, "", f"is unreadable ({exc})")
    if required:
        raise problem
    return {}, (f"{problem.reason}; the plans were not compared with the previous run, and the file was "
                "replaced by this run's history.")


def _shapes(data: Any, path: Path) -> dict[str, list[str]]:
    if isinstance(data, dict) and data.get("schema") == HISTORY_SCHEMA:
        queries = data.get("queries")
        if not isinstance(queries, dict):
            raise ParseError(path, "queries", "is not an object of query keys")
        return {str(key): _shape(entry.get("shape") if isinstance(entry, dict) else None, path,
                                 f"queries.{key}.shape") for key, entry in queries.items()}
    if not (isinstance(data, dict) and data.get("schema") == RESULT_SCHEMA and data.get("check") == "explain"
            and isinstance(data.get("views"), list)):
        raise ParseError(path, "", f"is neither a plan history ({HISTORY_SCHEMA}) nor an explain result file")
    shapes = {}
    for index, view in enumerate(data["views"]):
        if not isinstance(view, dict):
            raise ParseError(path, f"views[{index}]", "is not an object")
        if view.get("kind") != "plan":
            continue
        if not isinstance(view.get("title"), str):
            raise ParseError(path, f"views[{index}].title", "is not a query key (text)")
        if view.get("shape"):
            shapes[view["title"]] = _shape(view["shape"], path, f"views[{index}].shape")
    return shapes


def _shape(shape: Any, path: Path, place: str) -> list[str]:
    if not isinstance(shape, list) or not all(isinstance(line, str) for line in shape):
        raise ParseError(path, place, "is not a list of plan lines (text)")
    return list(shape)


def write_history(path: Path, shapes: dict[str, list[str]]) -> None:
    """Write the plan shapes of this run (merged with the previous ones) for the next run."""
    path.write_text(json.dumps({"schema": HISTORY_SCHEMA, "written_at": dt.datetime.now(dt.UTC).isoformat(),
                                "queries": {k: {"shape": v} for k, v in shapes.items()}}, indent=1))
