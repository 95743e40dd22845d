"""Keep secrets out of every log, error and report, and tool text off the user's terminal controls.

Three layers of masking: passwords inside URLs (``postgresql://user:secret@host``);
values written next to a secret-looking key (``"password": "..."``, ``token: ...``,
``PGPASSWORD=...``, ``Authorization: Bearer ...``); and the values of secret
environment variables, registered (``register_environment``) and replaced wherever
they appear, whether the config names the variable or not.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
# Registered values shorter than this, numbers and well-known defaults are too common to mask:
# replacing "true", "8080" or "postgres" everywhere would wreck the reports and protect nothing.
MIN_SECRET_LENGTH = 6
_TOO_COMMON = frozenset({
    "true", "false", "yes", "no", "none", "null", "localhost", "postgres", "postgresql", "password",
    "secret", "changeme", "example", "default", "admin", "root", "guest", "test", "testing",
})
_NUMBER = re.compile(r"[+-]?[\d_.,:]+")

# Environment variable names whose values are secrets. PWD/OLDPWD (folders) do not match.
SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|DSN|DATABASE_URL|KEY|(?:^|_)PASS(?:_|$)",
    re.IGNORECASE)

# Matches start only where a word starts (the lookbehinds): a long run of letters is scanned once,
# not once per position, so a megabyte line of minified output stays linear.
_URL_PASSWORD = re.compile(
    r"(?P<scheme>(?<![a-zA-Z0-9+.-])[a-zA-Z][a-zA-Z0-9+.-]{0,30}://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")
# A key that names a secret: password, db_password, PGPASSWORD, api_key, X-Api-Key, client_secret,
# access_token, credentials... (a key that only starts with one, like token_type, is not one).
_KEY = (r"(?<![A-Za-z0-9_.-])[A-Za-z0-9_.-]{0,40}?"
        r"(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey|private[_-]?key|access[_-]?key|credentials?)")
_SECRET_KEY = re.compile(_KEY, re.IGNORECASE)  # a whole dict key that names a secret
_PLACEHOLDER = re.compile(r"(?:\*+|\$\{[^}]*\}|<[^>]*>|null|none|~|true|false|\[redacted\]|)", re.IGNORECASE)
_QUOTED = r"\"(?:[^\"\\]|\\.)*\"|'[^']*'"
# "password": "x"  /  'token': 'x'  /  password: x  /  api_key: "x" (JSON, YAML, Python reprs, headers).
# A value that opens an object or a list is structure, not a secret (FastAPI's OAuth2 schema is called
# "Body_login-login_access_token": {...}); the keys inside it are scanned on their own.
_KEY_COLON = re.compile(
    rf"(?P<key>(?P<q>[\"']?)\b{_KEY}(?P=q)\s*:[ \t]*)(?P<value>{_QUOTED}|[^\s,;{{}}\[\]\"'<>]+)", re.IGNORECASE)
# A YAML line "  password: two words # comment": the value runs to the end of the line (or a
# tag: masking a rendered report again must not eat its markup).
_YAML_LINE = re.compile(
    rf"(?P<key>^[ \t]*(?:-[ \t]+)?{_KEY}[ \t]*:[ \t]+)(?P<value>[^\s#\"'<][^\n#<]*?)(?=[ \t]*(?:#|<|$))",
    re.IGNORECASE | re.MULTILINE)
# password=x  /  PGPASSWORD=x  /  --token=x  /  ?access_token=x&
_KEY_EQUALS = re.compile(rf"(?P<key>{_KEY}\s*=\s*)(?P<value>{_QUOTED}|[^\s&;,\"'<>]+)", re.IGNORECASE)
# Authorization: Bearer x  /  Authorization: Basic x  /  "Authorization": "x"
_AUTHORIZATION = re.compile(
    r"(?P<key>\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token|digest|negotiate)\s+)?)"
    r"(?P<value>[^\s\"',;<>]+)", re.IGNORECASE)
# A bearer token in prose ("curl -H 'Bearer eyJ...'"); "Bearer authentication" is not one.
_BEARER = re.compile(r"(?P<key>\bbearer\s+)(?P<value>(?=[A-Za-z0-9._~+/=-]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{8,})",
                     re.IGNORECASE)

# The words a pattern needs before it can match ("key" stands for api_key, private-key, access_key...):
# a text is scanned only by the patterns whose word it holds, so the common case (most strings of
# a report, URLs included) costs a few substring searches, not six regex scans.
_KEY_WORDS = ("passw", "passphrase", "secret", "token", "key", "credential")
_NEEDS: tuple[tuple[tuple[str, ...], tuple[re.Pattern[str], ...]], ...] = (
    (("authorization",), (_AUTHORIZATION,)),
    (("bearer",), (_BEARER,)),
    (_KEY_WORDS, (_YAML_LINE, _KEY_COLON, _KEY_EQUALS)),
)

_secrets: set[str] = set()
_environment_read = False
# The registered secrets as one alternation (longest first) and, per secret, the prefix sizes
# ending in each character: rebuilt when a secret is registered (``_compiled``).
_compiled: tuple[re.Pattern[str] | None, dict[str, list[tuple[str, int]]]] | None = None


def is_secret_name(name: str) -> bool:
    """Whether an environment variable (or config key) named ``name`` holds a secret."""
    return bool(SECRET_NAME.search(name))


def register_secret(value: str) -> str:
    """Remember a secret value so that ``redact`` removes it; common or short values are not masked."""
    # surrogateescape: os.environ carries bytes that are not UTF-8 as lone surrogates.
    candidates = {value, quote(value, safe="", errors="surrogateescape"), quote_plus(value, errors="surrogateescape")}
    candidates |= {m.group("pw") for m in _URL_PASSWORD.finditer(value)}
    global _compiled
    _secrets.update(c for c in candidates if _maskable(c))
    _compiled = None
    return value


def register_environment(env: Mapping[str, str] | None = None) -> int:
    """Register the value of every variable in ``env`` (default os.environ) whose name looks secret.

    Call again when variables are added (the service under test's READINESS_* values);
    ``load_config`` does. Returns how many variables looked secret.
    """
    global _environment_read
    env = os.environ if env is None else env
    if env is os.environ:
        _environment_read = True
    names = [name for name in env if is_secret_name(name)]
    for name in names:
        register_secret(env[name])
    return len(names)


def redact(text: str) -> str:
    """``text`` with URL passwords, ``key: value`` / ``key=value`` secrets and registered secrets masked."""
    if not _environment_read:
        register_environment()  # the first redaction of a process covers its environment
    if "://" in text:
        text = _URL_PASSWORD.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{MASK}@", text)
    lowered = text.lower()
    for words, patterns in _NEEDS:  # in the order the patterns always ran
        if any(word in lowered for word in words):
            for pattern in patterns:
                text = pattern.sub(_mask_value, text)
    registered, prefixes = _compiled or _compile()
    if registered is not None:
        text = registered.sub(MASK, text)
    return _mask_cut_secret(text, prefixes)


def redact_registered(text: str) -> str:
    """``text`` with every registered secret masked: one compiled pass, for a whole rendered document
    whose every foreign string ``redact`` has already seen (its patterns would cost seconds there)."""
    if not _environment_read:
        register_environment()
    registered, _ = _compiled or _compile()
    return text if registered is None else registered.sub(MASK, text)


def _compile() -> tuple[re.Pattern[str] | None, dict[str, list[tuple[str, int]]]]:
    """One pattern for every registered secret (longest first, so a secret inside another is not cut)."""
    global _compiled
    ordered = sorted(_secrets, key=lambda secret: (-len(secret), secret))
    pattern = re.compile("|".join(re.escape(secret) for secret in ordered)) if ordered else None
    prefixes: dict[str, list[tuple[str, int]]] = {}
    for secret in ordered:
        for size in range(len(secret) - 1, MIN_SECRET_LENGTH - 1, -1):
            prefixes.setdefault(secret[size - 1], []).append((secret, size))
    for sizes in prefixes.values():
        sizes.sort(key=lambda item: -item[1])
    _compiled = (pattern, prefixes)
    return _compiled


def _mask_cut_secret(text: str, prefixes: dict[str, list[tuple[str, int]]]) -> str:
    """Mask the start of a secret left at the very end of a text that was shortened before masking.

    Checks and tools cap long messages ("...secret-to" + "…"); the whole secret no longer
    appears, but its first characters would. Only a tail of at least MIN_SECRET_LENGTH
    characters is taken for a secret's start, so ordinary endings are left alone. Only the
    prefixes that end in the text's last character are tried (``prefixes``), longest first.
    """
    body = text.rstrip("…. \n")
    for secret, size in prefixes.get(body[-1:], ()):
        if size <= len(body) and body.endswith(secret[:size]):
            return body[:-size] + MASK + text[len(body):]
    return text


def redact_text_file(path: Path) -> bool:
    """Mask secrets inside a text evidence file in place; True when it changed (binary files are left)."""
    try:
        original = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    masked = redact(original)
    if masked == original:
        return False
    temporary = path.with_name(f".{path.name}.masking")
    temporary.write_text(masked, encoding="utf-8")
    os.replace(temporary, path)
    return True


def redact_tree(node: Any) -> Any:
    """``redact`` applied to every string in a JSON-like tree (keys included); values of secret keys masked."""
    # A report's strings repeat (every finding's keys, the same title on many alerts): each distinct
    # one is masked once per tree (a large verdict: 184,000 strings, 26,000 distinct).
    return _masked_tree(node, {})


def _masked_tree(node: Any, seen: dict[str, str]) -> Any:
    if isinstance(node, str):  # the most common node first
        return _redact_once(node, seen)
    if isinstance(node, dict):
        return {_redact_once(str(k), seen): _masked_entry(str(k), v, seen) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_masked_tree(v, seen) for v in node]
    return node


def _redact_once(text: str, seen: dict[str, str]) -> str:
    masked = seen.get(text)
    if masked is None:
        masked = seen[text] = redact(text)
    return masked


def _masked_entry(key: str, value: Any, seen: dict[str, str]) -> Any:
    if isinstance(value, str) and _secret_key(key) and not _PLACEHOLDER.fullmatch(value):
        return MASK
    return _masked_tree(value, seen)


@functools.lru_cache(maxsize=4096)
def _secret_key(key: str) -> bool:
    """Whether a whole dict key names a secret (a tree's keys repeat: each is matched once)."""
    return _SECRET_KEY.fullmatch(key) is not None


def _mask_value(match: re.Match[str]) -> str:
    value = match.group("value")
    quote_char = value[0] if value[:1] in ("'", '"') and len(value) > 1 and value[-1] == value[0] else ""
    inner = value[1:-1] if quote_char else value
    if _PLACEHOLDER.fullmatch(inner) or inner.startswith(MASK):  # nothing there, or masked already
        return match.group(0)
    return f"{match.group('key')}{quote_char}{MASK}{quote_char}"


def _maskable(value: str) -> bool:
    value = value.strip()
    return (len(value) >= MIN_SECRET_LENGTH and value.lower() not in _TOO_COMMON
            and not _NUMBER.fullmatch(value))


# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), DCS/SOS/PM/APC strings (ESC P, X, ^, _ ...
# ESC \), other two-byte escapes, C0/C1 controls except tab and newline, and the Unicode bidi
# controls that reorder what is displayed: what a hostile tool output uses to move the cursor,
# recolour, rewrite or mirror a line ("VERDICT: READY") on the user's terminal.
_TERMINAL_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[ -/]*[0-~]"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
    r"|[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
    r"|[\ud800-\udfff]"
)


def terminal_safe(text: str) -> str:
    """``text`` without terminal escapes, control characters, bidi controls or lone surrogates (tab, newline kept)."""
    return _TERMINAL_ESCAPES.sub("", text)


def one_line(text: str) -> str:
    """``text`` made safe for the terminal, with every run of whitespace (newlines too) one space."""
    return " ".join(terminal_safe(text).split())
