"""The shape of a foreign JSON or YAML document, checked before any field is used.

A report is untrusted input: where an object is expected it may hold a list, where a
list is expected a string, and a reader that calls ``.get`` on it crashes. These
helpers return the value when it has the expected shape and otherwise raise one
ParseError naming the file (or URL) and the place, so a malformed report becomes an
``error`` of its check and never a crash. Numbers go through ``pipeline.evidence``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline import evidence
from pipeline.errors import ParseError


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def load_json_text(data: str | bytes, source: Path | str, hint: str = "") -> Any:
    """A JSON document; NaN and Infinity (which Python's json accepts) are refused like any bad JSON."""
    try:
        return json.loads(data, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ParseError(source, f"line {exc.lineno} column {exc.colno}", f"is not valid JSON ({exc.msg})",
                         hint) from None
    except UnicodeDecodeError as exc:
        raise ParseError(source, f"byte {exc.start}", "is not UTF-8 text", hint) from None
    except ValueError as exc:  # NaN/Infinity, or an integer too long to convert
        raise ParseError(source, "", f"is not valid JSON ({exc})", hint) from None
    except RecursionError:
        raise ParseError(source, "", "is nested too deeply to be a genuine report", hint) from None


def load_json_file(path: Path, hint: str = "") -> Any:
    """The JSON document in ``path``; an unreadable or malformed file is a ParseError."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ParseError(path, "", f"cannot be read: {exc.strerror or exc}", hint) from None
    if not data.strip():
        raise ParseError(path, "", "is empty", hint)
    return load_json_text(data, path, hint)


def mapping(value: Any, source: Path | str, place: str) -> dict[str, Any]:
    """``value`` when it is an object (a dict with text keys)."""
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise ParseError(source, place, f"is {_kind(value)}, not an object")
    return value


def sequence(value: Any, source: Path | str, place: str, *, optional: bool = False) -> list[Any]:
    """``value`` when it is a list; with ``optional`` a missing (None) value is the empty list."""
    if value is None and optional:
        return []
    if not isinstance(value, list):
        raise ParseError(source, place, f"is {_kind(value)}, not a list")
    return value


def objects(value: Any, source: Path | str, place: str, *,
            optional: bool = False) -> Iterator[tuple[str, dict[str, Any]]]:
    """(place, object) for each item of a list that must hold only objects."""
    for index, item in enumerate(sequence(value, source, place, optional=optional)):
        where = f"{place}[{index}]"
        yield where, mapping(item, source, where)


def optional_text(value: Any, source: Path | str, place: str) -> str:
    """A text field that may be absent (None is the empty string); a number or a list is refused."""
    if value is None:
        return ""
    return evidence.text(value, source, place, required=False)


def texts(value: Any, source: Path | str, place: str) -> list[str]:
    """A list of texts (absent: empty), each non-empty."""
    return [evidence.text(item, source, f"{place}[{index}]")
            for index, item in enumerate(sequence(value, source, place, optional=True))]


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{names.get(type(value), type(value).__name__)} ({shown})"
