"""What every fuzz test of a parser of foreign input shares: one budget, hostile documents, one rule.

The rule: whatever bytes or document a parser is given, only the gate's own typed errors
(``pipeline.errors.CheckError`` and its family: ParseError, ArtifactMissing...) may come out;
anything else (KeyError, TypeError, RecursionError...) would make the check "crash".

The budget: ``@fuzz(n)`` runs ``n`` examples, or ``READINESS_FUZZ_EXAMPLES`` of them for a long
run; that variable is read here and nowhere else. Fuzz tests also carry the ``fuzz`` marker,
so ``pytest -m fuzz`` selects all of them.

The documents: ``mutated(document)`` is a valid, real-shaped document with a few values
replaced by any JSON value or removed; ``mutated_bytes(seed)`` changes a valid file's bytes
(hostile fragments, deleted or repeated spans, numbers no tool writes, a cut end). Mutating
a realistic document reaches far deeper into a reader than random input does, because most
of it still has the expected shape.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ_EXAMPLES_VARIABLE = "READINESS_FUZZ_EXAMPLES"
T = TypeVar("T", bound=Callable[..., Any])
_ROOT = object()


def budget(default: int) -> int:
    """Examples per fuzz test: ``default`` (bounded, in every run), or READINESS_FUZZ_EXAMPLES for a long run."""
    return int(os.environ.get(FUZZ_EXAMPLES_VARIABLE) or default)


def fuzz(default: int) -> Callable[[T], T]:
    """Hypothesis settings for a fuzz test (``budget(default)`` examples, no deadline) and the ``fuzz`` marker."""
    def apply(test: T) -> T:
        limited = settings(max_examples=budget(default), deadline=None,
                           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])(test)
        marked: T = pytest.mark.fuzz(limited)
        return marked
    return apply


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


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path (keys and indexes from the root) of every value inside ``node``, the root's ``()`` first."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


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


def alias_bomb(name: str = "l", levels: int = 9, indent: str = "") -> tuple[str, str]:
    """YAML anchors whose last one stands for 9**levels values, and the alias naming it.

    Returns (lines defining the anchors as a mapping, ``*<name><levels - 1>``).
    """
    lines = [f"{indent}{name}0: &{name}0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"{indent}{name}{i}: &{name}{i} [{', '.join([f'*{name}{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines), f"*{name}{levels - 1}"


# Fragments a hostile or broken file holds: markup and entity tricks, numbers no tool writes,
# bytes that are not UTF-8, nesting far deeper than any real report.
HOSTILE_FRAGMENTS = (
    b"<", b">", b"&", b"&amp;", b"&#0;", b"&#xD800;", b"]]>", b"<!--", b'"', b"'", b"\x00", b"\xff\xfe", b"\xc3",
    b'<!DOCTYPE r [<!ENTITY e "x">]>', b'<!ENTITY e SYSTEM "file:///etc/passwd">', b"&e;", b"<a:b>", b"\r",
    b"NaN", b"-1", b"1e400", b"-0", b"true", b"null", b"0x10", b"99999999999999999999999", b"\xef\xbc\x91",
    b"{", b"}", b"[", b"]", b":", b",", b"\n", b"\t", b"  ", b"- ", b"*a", b"&a ", b"!!python/object:os.system",
    b"%", b"\\", b"\\u0000", b"\xe2\x80\xae", b"\x1b[31m",
    b"<x>" * 1200 + b"</x>" * 1200, b"[" * 1200 + b"]" * 1200, b"{\"a\":" * 1200 + b"1" + b"}" * 1200,
    b"- " * 600 + b"x",
)
HOSTILE_NUMBERS = (b"NaN", b"nan", b"Infinity", b"-1", b"-0.5", b"1e400", b"1.5", b"", b"true", b"0x1F",
                   b"99999999999999999999999999", b"\xd9\xa3", b"1_000", b" 7 ")


@st.composite
def mutated_bytes(draw: st.DrawFn, seed: bytes, max_changes: int = 4) -> bytes:
    """``seed`` (a valid document) with a few byte-level changes: a hostile fragment inserted, a span
    deleted or repeated, a number replaced by one no tool writes, or the end cut off."""
    data = seed
    for _ in range(draw(st.integers(1, max_changes))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(("insert", "delete", "repeat", "number", "cut")))
        if action == "insert":
            data = data[:at] + draw(st.sampled_from(HOSTILE_FRAGMENTS) | st.binary(max_size=8)) + data[at:]
        elif action == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 40)):]
        elif action == "repeat":
            span = data[at:at + draw(st.integers(1, 60))]
            data = data[:at] + span * draw(st.integers(2, 30)) + data[at:]
        elif action == "number":
            numbers = [m.span() for m in re.finditer(rb"-?\d+(?:\.\d+)?", data)]
            if numbers:
                start, end = draw(st.sampled_from(numbers))
                data = data[:start] + draw(st.sampled_from(HOSTILE_NUMBERS)) + data[end:]
        else:
            data = data[:at]
    return data


@st.composite
def nested_bytes(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` with one of its elements nested far deeper than any real document (a reader that recurses
    runs out of stack): an XML element inside itself, or a list or object inside a list or object."""
    depth = draw(st.sampled_from((120, 1500, 20_000)))
    places = [(m.start(), b"<%s>" % m.group(1) * depth + b"</%s>" % m.group(1) * depth)
              for m in re.finditer(rb"<([A-Za-z][\w:.-]{0,30})[\s/>]", seed)]  # before an element
    places += [(m.end(), b"[" * depth + b"]" * depth + b",") for m in re.finditer(rb"\[\s*(?=[^\s\]])", seed)]
    places += [(m.end(), b'"n": ' + b'{"n": ' * depth + b"1" + b"}" * depth + b",")
               for m in re.finditer(rb"\{\s*(?=\")", seed)]  # first in a list or an object that is not empty
    if not places:
        return seed
    at, nest = draw(st.sampled_from(places))
    return seed[:at] + nest + seed[at:]
