"""Keep secrets out of every log, error and report.

Two layers: passwords inside URLs (``postgresql://user:secret@host``) are masked
wherever a URL appears, and values of secret environment variables that the config
expanded are registered and replaced wherever they appear.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")
_KEYWORD_PASSWORD = re.compile(r"(?P<key>\bpassword\s*=\s*)(?P<pw>'[^']*'|\S+)", re.IGNORECASE)
_secrets: set[str] = set()


def register_secret(value: str) -> str:
    """Remember a secret value so that ``redact`` removes it (short values are too common to mask)."""
    if len(value) >= 4:
        _secrets.add(value)
        for match in _URL_PASSWORD.finditer(value):
            if len(match.group("pw")) >= 4:
                _secrets.add(match.group("pw"))
    return value


def redact(text: str) -> str:
    """``text`` with URL passwords, ``password=`` values and registered secrets masked."""
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{MASK}@", text)
    text = _KEYWORD_PASSWORD.sub(lambda m: f"{m.group('key')}{MASK}", text)
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def redact_tree(node: Any) -> Any:
    """``redact`` applied to every string in a JSON-like tree (keys included)."""
    if isinstance(node, dict):
        return {redact(str(k)): redact_tree(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [redact_tree(v) for v in node]
    if isinstance(node, str):
        return redact(node)
    return node


# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), other two-byte escapes, and C0/C1
# controls except tab and newline: what a hostile tool output uses to move the cursor,
# recolour or rewrite a line ("VERDICT: READY") on the user's terminal.
_TERMINAL_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[@-Z\\-_]"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def terminal_safe(text: str) -> str:
    """``text`` without terminal escape sequences and control characters (tab and newline kept)."""
    return _TERMINAL_ESCAPES.sub("", text)
