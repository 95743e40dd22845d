"""``readiness.json``: the verdict document (schema ``readiness.verdict/1``).

JSON escapes whatever a string holds, so the text stays as the tools wrote it, with
three exceptions: secrets are masked (before escaping, where a masker can still see
them), lone surrogates are dropped (no strict JSON reader accepts them) and a number
that is not finite becomes null (``NaN`` is not JSON).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pipeline.redact import redact_tree
from pipeline.verdict import VerdictReport

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def render(report: VerdictReport) -> str:
    """The verdict as compact JSON (one line: json's C encoder; indenting takes the pure-Python path)."""
    tree = redact_tree(report.to_dict())
    try:
        text = json.dumps(tree, default=str, allow_nan=False)
    except ValueError:  # a number that is not finite
        text = ""
    # Every non-ASCII character is escaped, so a surrogate, lone or paired, shows as "\ud...": only
    # then (or for a NaN) does the document need the walk that drops lone surrogates and NaNs.
    if not text or "\\ud" in text:
        text = json.dumps(_strict(tree), default=str, allow_nan=False)
    return text + "\n"


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        return {_strict(k): _strict(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_strict(v) for v in node]
    if isinstance(node, str):
        return _LONE_SURROGATE.sub("", node)
    if isinstance(node, float) and not math.isfinite(node):
        return None
    return node
