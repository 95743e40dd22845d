"""Validate what a tool wrote before any rule sees it: JSON documents, their shapes, numbers, texts.

A report from a tool (or from whoever produced an ingested file) is untrusted input:
a boolean is not a number, NaN and infinities are not measurements, a time or a count
is never negative, a rate lies in [0, 1]. Each helper returns the clean value or
raises one ParseError that names the file and the place, so a forged or corrupt
report becomes an ``error`` and never a pass. The same goes for shapes: where an
object is expected a report may hold a list, and a reader that calls ``.get`` on it
would crash instead of saying what is wrong.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.errors import ParseError


def number(value: Any, source: Path | str, place: str, *, minimum: float | None = None,
           maximum: float | None = None, text_ok: bool = False) -> float:
    """``value`` as a finite float within [minimum, maximum].

    ``text_ok`` accepts numbers written as strings (ZAP and Cobertura write ``"3"``).
    """
    if isinstance(value, str) and text_ok:
        try:
            value = float(value.strip())
        except ValueError:
            raise ParseError(source, place, f"is {value!r}, not a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParseError(source, place, f"is {value!r}, not a number")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer too large for a float (JSON allows any number of digits)
        finite = False
    if not finite:
        raise ParseError(source, place, f"is {_shown(value)}, not a finite number")
    if minimum is not None and value < minimum:
        raise ParseError(source, place, f"is {value!r}, below the smallest possible value {minimum:g}")
    if maximum is not None and value > maximum:
        raise ParseError(source, place, f"is {value!r}, above the largest possible value {maximum:g}")
    return float(value)


def _shown(value: Any) -> str:
    # repr of an integer with thousands of digits is long, or refused outright by Python.
    try:
        shown = repr(value)
    except ValueError:
        return "an integer with too many digits"
    return shown if len(shown) <= 40 else shown[:40] + "…"


def non_negative(value: Any, source: Path | str, place: str, *, text_ok: bool = False) -> float:
    """A time, a size or a count: finite and >= 0."""
    return number(value, source, place, minimum=0, text_ok=text_ok)


def rate(value: Any, source: Path | str, place: str, *, text_ok: bool = False) -> float:
    """A ratio in [0, 1] (error rate, pass rate, coverage rate)."""
    return number(value, source, place, minimum=0, maximum=1, text_ok=text_ok)


def count(value: Any, source: Path | str, place: str, *, text_ok: bool = False) -> int:
    """A whole number >= 0 (``3.0`` is accepted, ``3.5`` is not)."""
    checked = non_negative(value, source, place, text_ok=text_ok)
    if not checked.is_integer():
        raise ParseError(source, place, f"is {value!r}, not a whole number")
    return int(checked)


def text(value: Any, source: Path | str, place: str, *, required: bool = True) -> str:
    """A string field (a number is not a name); ``required`` refuses the empty string."""
    if not isinstance(value, str):
        raise ParseError(source, place, f"is {value!r}, not text")
    if required and not value.strip():
        raise ParseError(source, place, "is empty")
    return value


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
    return text(value, source, place, required=False)


def texts(value: Any, source: Path | str, place: str) -> list[str]:
    """A list of texts (absent: empty), each non-empty."""
    return [text(item, source, f"{place}[{index}]")
            for index, item in enumerate(sequence(value, source, place, optional=True))]


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{names.get(type(value), type(value).__name__)} ({shown})"
