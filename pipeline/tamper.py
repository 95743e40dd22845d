"""``readiness verify-signoff``: recompute what a sign-off record froze and name each kind of change.

Exit codes (one per kind; several kinds at once: 1):

- 0 intact (and, for a signed record, signed by a trusted key)
- 1 tampered: the record's own fields, the config, a missing file, or several kinds at once
- 4 a report changed (readiness.json, .html, .md, .junit.xml, .sarif or another file of the folder)
- 5 a result changed (results/)
- 6 an evidence file changed (evidence/, or an ingested original outside the reports folder)
- 7 a file was added
- 8 bad signature: the detached signature or the DSSE envelope does not verify, is missing, or the
  record is unsigned while a trusted key was given
- 9 signed by a key that is not trusted (not among --public-key, or none was given)
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from pipeline import signing
from pipeline.signoff import SEAL, SignoffError, digests, envelope_path, seal, sha256_file

EXIT_CODES = {"tampered": 1, "report": 4, "result": 5, "evidence": 6, "added": 7, "signature": 8, "unknown key": 9}
MEANINGS = {1: "tampered", 4: "a report changed", 5: "a result changed", 6: "an evidence file changed",
            7: "a file was added", 8: "bad signature", 9: "signed by an unknown key"}
Problem = tuple[str, str]  # (kind, line)


def verify(path: Path, trusted: list[Path]) -> int:
    """Print every difference from the record at ``path``; return the exit code of their kind."""
    try:
        record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        recorded: dict[str, str] = dict(record["files"])
        ingested: dict[str, dict[str, str]] = dict(record.get("ingested") or {})
        keys = [signing.public_key(k) for k in trusted]
    except signing.SigningError as exc:
        raise SignoffError(str(exc)) from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SignoffError(f"{path}: not a readable sign-off record ({exc})") from None
    problems = _record_problems(record) + _file_problems(recorded, digests(path.parent))
    problems += _config_problems(record.get("config")) + _ingested_problems(ingested)
    problems += signature_problems(path, record, keys)
    for _, line in problems:
        print(line)
    if not problems:
        signed = f", signed by key {record['signature']['keyid']}" if record.get("signature") else ""
        print(f"INTACT: {len(recorded)} files, the config and the record match the sign-off of release "
              f"{record.get('release')}{signed}")
        return 0
    codes = {EXIT_CODES[kind] for kind, _ in problems}
    code = codes.pop() if len(codes) == 1 else EXIT_CODES["tampered"]
    print(f"TAMPERED: {len(problems)} difference(s) from the sign-off of release {record.get('release')} "
          f"(exit {code}: {MEANINGS[code]})")
    return code


def _record_problems(record: dict[str, Any]) -> list[Problem]:
    if SEAL not in record:
        return [("tampered", "changed: the record carries no digest of its own fields (removed, or written by an "
                             "older gate)")]
    if record[SEAL] != seal(record):
        return [("tampered", "changed: the record's own fields (verdict, approver, digests...) were edited after "
                             "signing")]
    return []


def _kind(name: str) -> str:
    return "result" if name.startswith("results/") else "evidence" if name.startswith("evidence/") else "report"


def _file_problems(recorded: dict[str, str], current: dict[str, str]) -> list[Problem]:
    lines = [(_kind(n), f"changed: {n}") for n in sorted(recorded) if n in current and current[n] != recorded[n]]
    lines += [("tampered", f"missing: {n}") for n in sorted(recorded) if n not in current]
    lines += [("added", f"added:   {n}") for n in sorted(current) if n not in recorded]
    return lines


def _config_problems(config: Any) -> list[Problem]:
    if not isinstance(config, dict):
        return []
    path = Path(str(config.get("path")))
    if not path.is_file():
        return [("tampered", f"missing: config {path}")]
    return [] if sha256_file(path) == config.get("sha256") else [("tampered", f"changed: config {path}")]


def _ingested_problems(ingested: dict[str, dict[str, str]]) -> list[Problem]:
    """An original edited since the copy was made; an original that is gone is only noted."""
    lines = []
    for copy, entry in sorted(ingested.items()):
        original = Path(str(entry.get("original")))
        if not original.is_file():
            print(f"note:    {original} (ingested as {copy}) is no longer there; the copy is what was signed")
        elif sha256_file(original) != entry.get("sha256"):
            lines.append(("evidence", f"changed: {original} (outside the reports folder; ingested as {copy})"))
    return lines


def signature_problems(path: Path, record: dict[str, Any], trusted: list[Ed25519PublicKey]) -> list[Problem]:
    """The detached signature and the DSSE envelope, checked with the record's key; then whether it is trusted."""
    info, detached = record.get("signature"), path.with_name(path.name + ".sig")
    if not info and not detached.exists():
        return [("signature", f"unsigned: {path.name} carries no signature, but a trusted key was given to check "
                              "it (--public-key)")] if trusted else []
    key = _embedded(info)
    if key is None:
        return [("signature", f"bad signature: {path.name} has no readable signature block (algorithm, keyid, "
                              "public_key)")]
    keyid = signing.key_id(key)
    problems = _detached_problems(path, detached, key) + _envelope_problems(path, record, key)
    if problems:
        return problems
    if keyid not in {signing.key_id(k) for k in trusted}:
        why = "no trusted key was given (--public-key)" if not trusted else "it is not among the trusted keys"
        return [("unknown key", f"unknown key: {path.name} is signed by key {keyid}, but {why}")]
    return []


def _embedded(info: Any) -> Ed25519PublicKey | None:
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(info["public_key"], validate=True))
    except (KeyError, TypeError, ValueError, binascii.Error):
        return None
    return key if info.get("algorithm") == "ed25519" and info.get("keyid") == signing.key_id(key) else None


def _detached_problems(path: Path, detached: Path, key: Ed25519PublicKey) -> list[Problem]:
    try:
        signature = detached.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return [("signature", f"missing: {detached.name}: the record says it is signed, its signature is gone")]
    if not signing.verifies(key, path.read_bytes(), signature):
        return [("signature", f"bad signature: {detached.name} does not verify {path.name} with key "
                              f"{signing.key_id(key)}")]
    return []


def _envelope_problems(path: Path, record: dict[str, Any], key: Ed25519PublicKey) -> list[Problem]:
    where = envelope_path(path)
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return [("signature", f"missing: {where.name}: the record says it is signed, its DSSE envelope is gone "
                              "or unreadable")]
    statement = signing.open_envelope(data, key)
    if statement is None:
        return [("signature", f"bad signature: the DSSE envelope {where.name} does not verify with key "
                              f"{signing.key_id(key)}")]
    subjects = {s.get("name"): (s.get("digest") or {}).get("sha256") for s in statement.get("subject", [])
                if isinstance(s, dict)}
    if subjects != {**record.get("files", {}), path.name: sha256_file(path)}:
        return [("signature", f"bad signature: the statement in {where.name} lists other files or digests than "
                              f"{path.name}")]
    return []
