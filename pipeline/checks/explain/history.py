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

from pipeline import evidence
from pipeline.errors import ArtifactMissing, ParseError
from pipeline.model import RESULT_SCHEMA

HISTORY_FILE = "explain-plans.json"
HISTORY_SCHEMA = "readiness.explain-plans/1"


# What a plan history keeps of each plan besides its shape, for judging a change (None: not known,
# as in a history written before these were kept, or a baseline taken from a result file).
FACT_KEYS = ("cost", "buffers", "spills")


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
                                  "Point checks.explain.baseline at a plan history (a committed copy of "
                                  "evidence/explain-plans.json) or an explain result file.") from None
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


def read_facts(path: Path) -> dict[str, dict[str, float]]:
    """The numbers a plan history keeps per query (cost, buffers, spills), each checked; {} when it has none.

    Called after ``read_history`` accepted the file, so only the numbers are checked here.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    if not (isinstance(data, dict) and data.get("schema") == HISTORY_SCHEMA and isinstance(data.get("queries"), dict)):
        return {}
    facts: dict[str, dict[str, float]] = {}
    for key, entry in data["queries"].items():
        kept = entry.get("facts") if isinstance(entry, dict) else None
        if isinstance(kept, dict):
            facts[str(key)] = {name: evidence.non_negative(kept[name], path, f"queries.{key}.facts.{name}")
                               for name in FACT_KEYS if kept.get(name) is not None}
    return facts


def write_history(path: Path, shapes: dict[str, list[str]], facts: dict[str, dict[str, float]] | None = None) -> None:
    """Write the plan shapes (and their numbers) of this run, merged with the previous ones, for the next run."""
    facts = facts or {}
    path.write_text(json.dumps({"schema": HISTORY_SCHEMA, "written_at": dt.datetime.now(dt.UTC).isoformat(),
                                "queries": {k: {"shape": v, **({"facts": facts[k]} if k in facts else {})}
                                            for k, v in shapes.items()}}, indent=1))


def next_history(runs: tuple[Any, ...], settings: Any, previous: dict[str, list[str]],
                 facts: dict[str, dict[str, float]], compared: bool) -> tuple[dict[str, list[str]],
                                                                         dict[str, dict[str, float]]]:
    """The plans the next run is judged against: this run's, except where a plan regressed.

    A regressed plan never becomes the reference, so a regression keeps failing until it
    is fixed, whichever run came before (the outcome does not depend on run order alone).
    ``runs`` are ``policy.QueryRun``; ``settings`` the ``ExplainSettings``.
    """
    from pipeline.checks.explain.change import judge_change, plan_facts
    from pipeline.checks.explain.plan import plan_shape, read_plan, walk
    from pipeline.checks.explain.settings import rules_for

    shapes, numbers = dict(previous), dict(facts)
    for run in runs:
        if run.plan_output is None or run.error is not None:
            continue
        try:
            root = read_plan(run.plan_output, run.key).root
        except ParseError:
            continue  # an unreadable plan is reported by parse; it is not a baseline
        nodes, shape = tuple(walk(root)), plan_shape(root)
        limit = rules_for(settings, run.name).max_seq_scan_rows
        big = {n.relation for n in nodes if n.node_type == "Seq Scan" and n.relation and n.scanned_rows > limit}
        if compared and run.key in previous and judge_change(previous[run.key], facts.get(run.key, {}), shape,
                                                             plan_facts(nodes), big, settings.plan_tolerance)[0]:
            continue
        shapes[run.key], numbers[run.key] = shape, plan_facts(nodes)
    return shapes, numbers
