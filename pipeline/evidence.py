"""Validate what a tool wrote before any rule sees it: numbers, rates, counts, texts.

A report from a tool (or from whoever produced an ingested file) is untrusted input:
a boolean is not a number, NaN and infinities are not measurements, a time or a count
is never negative, a rate lies in [0, 1]. Each helper returns the clean value or
raises one ParseError that names the file and the place, so a forged or corrupt
report becomes an ``error`` and never a pass.
"""

from __future__ import annotations

import math
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
