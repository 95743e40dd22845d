"""What every reporter does to a foreign string before its own escaping: secrets out, controls out.

A foreign string is anything a tool, a scanned site or a result file wrote. Each format
escapes in its own syntax (HTML autoescape, Markdown backslashes, XML character rules,
SARIF brackets); this module holds what they share, and the one rule for links: a
report links only to an http(s) URL or to a relative path inside the reports folder.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlsplit

from pipeline.redact import redact, terminal_safe

# Characters a URL never holds literally (bidi controls would disguise one): with them it is text, not a link.
_NOT_IN_URL = re.compile("[\\s\x00-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\"'<>\\\\`]")
# In a path: controls, and lone surrogates (they cannot be percent-encoded).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def plain(value: Any) -> str:
    """``value`` as text with terminal controls removed and secrets masked (tab and newline kept).

    Controls go first, so escapes spliced into a secret cannot hide it from the masking.
    """
    return redact(terminal_safe(str(value)))


def http_url(value: Any) -> str | None:
    """``value`` if it is an absolute http(s) URL with a host (secrets masked), else None."""
    if not isinstance(value, str) or _NOT_IN_URL.search(value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:  # an invalid IPv6 host, say
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return redact(value)


def relative_path(value: Any) -> str | None:
    """``value`` as a percent-encoded relative URL if it is a path inside the reports folder, else None.

    Refused: a scheme (``javascript:``, ``data:``, ``file:``, ``C:``), an absolute or
    protocol-relative path (``/x``, ``//host``), backslashes and any ``..`` segment.
    """
    if not isinstance(value, str) or not value or value != value.strip():
        return None
    if _SCHEME.match(value) or value.startswith("/") or "\\" in value or _CONTROL.search(value):
        return None
    segments = value.split("/")
    if any(segment in ("..", "") for segment in segments[:-1]) or segments[-1] == "..":
        return None
    return quote(redact(value), safe="/")  # masked first: percent-encoding would hide a secret
