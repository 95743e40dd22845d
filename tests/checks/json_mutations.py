"""Hypothesis strategies for hostile documents: any JSON value, and a valid document with a few parts broken.

A reader of foreign input must answer a broken document with its own typed error, never
a crash; mutating a realistic document reaches far deeper into a reader than random
values do, because most of the document still has the expected shape.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

_ROOT = object()


def budget(default: int) -> int:
    """Examples per property test: ``default`` (bounded, for every run), or READINESS_FUZZ_EXAMPLES for a long run."""
    return int(os.environ.get("READINESS_FUZZ_EXAMPLES") or default)


scalars = (st.none() | st.booleans() | st.integers(-(10**6), 10**6)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))

json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


def _slots(document: Any) -> Iterator[tuple[Any, Any]]:
    """(container, key) for every value inside ``document``, the root as (_ROOT, None)."""
    yield _ROOT, None
    stack = [document]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            yield node, key
            stack.append(value)


@st.composite
def mutated(draw: st.DrawFn, document: Any, max_changes: int = 3) -> Any:
    """``document`` with one to ``max_changes`` values replaced by any JSON value, or removed."""
    document = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, max_changes))):
        slots = list(_slots(document))
        container, key = draw(st.sampled_from(slots))
        replacement = draw(json_values)
        if container is _ROOT:
            document = replacement
        elif draw(st.booleans()):
            container[key] = replacement
        elif isinstance(container, dict):
            del container[key]
        else:
            container.pop(key)
    return document
