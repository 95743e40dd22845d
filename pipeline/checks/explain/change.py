"""A plan change judged, not just noticed: a regression against the baseline fails, anything else is reported.

A regression is a new sequential scan over the query's row limit, an index the baseline
used that the plan no longer uses, a new spill to disk, or a total cost or buffer count
beyond the baseline's by more than the tolerance. An improvement (an index now used, a
scan gone, a lower cost) or a neutral change passes with a note. The numbers (cost,
buffers, spills) are compared only when the baseline kept them; the shape always is.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.checks.explain.plan import PlanNode, spill

_SEQ_SCAN = re.compile(r"^\s*Seq Scan on (\S+)")
_USING = re.compile(r" using (\S+)")


def plan_facts(nodes: tuple[PlanNode, ...]) -> dict[str, float]:
    """What is kept of an executed plan to judge the next one: its total cost, buffers and spills."""
    if not nodes:
        return {}
    raw = nodes[0].raw
    buffers = float(raw.get("Shared Hit Blocks", 0) or 0) + float(raw.get("Shared Read Blocks", 0) or 0)
    return {"cost": float(raw.get("Total Cost", 0) or 0), "buffers": buffers,
            "spills": float(sum(1 for node in nodes if spill(node)))}


def judge_change(before: list[str], before_facts: dict[str, float], after: list[str], after_facts: dict[str, float],
                 big_scans: set[str], tolerance: float) -> tuple[list[str], list[str]]:
    """(regressions, other changes) from the baseline's plan to this one, each said in words.

    ``big_scans`` are the relations this plan scans sequentially beyond the row limit.
    """
    regressions, changes = [], []
    old_scans = {m.group(1) for line in before if (m := _SEQ_SCAN.match(line))}
    new_scans = {m.group(1) for line in after if (m := _SEQ_SCAN.match(line))}
    old_indexes, new_indexes = _indexes(before), _indexes(after)
    regressions += [f"a new sequential scan of {r} over the row limit" for r in sorted(big_scans - old_scans)]
    regressions += [f"index {i} is no longer used" for i in sorted(old_indexes - new_indexes)]
    changes += [f"index {i} is now used" for i in sorted(new_indexes - old_indexes)]
    changes += [f"the sequential scan of {r} is gone" for r in sorted(old_scans - new_scans)]
    for name, words in (("cost", "total cost"), ("buffers", "buffers")):
        old, new = before_facts.get(name), after_facts.get(name)
        if old is None or new is None:
            continue
        if new > old * (1 + tolerance) and new - old >= 1:
            regressions.append(f"{words} {new:,.0f} is over the baseline's {old:,.0f} by more than {tolerance:.0%}")
        elif new != old:
            changes.append(f"{words} {old:,.0f} -> {new:,.0f}")
    if after_facts.get("spills", 0) > before_facts.get("spills", after_facts.get("spills", 0)):
        regressions.append("a new spill to disk")
    if before != after and not regressions and not changes:
        changes.append("the plan's shape changed")
    return regressions, changes


def _indexes(shape: list[str]) -> set[str]:
    return {m.group(1) for line in shape if (m := _USING.search(line))}


def details(before: list[str], after: list[str], **more: Any) -> dict[str, Any]:
    """What a plan-changed finding carries: both shapes and the words."""
    return {"previous": before, "current": after, **more}
