"""Sign-off records: the verdict plus a SHA-256 of every evidence file, and their verification.

``readiness signoff`` freezes what the release manager saw; ``readiness
verify-signoff`` recomputes every digest later and says what changed.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from pipeline.config import load_config
from pipeline.model import Verdict, now_utc, write_json_atomic
from pipeline.verdict import git_commit

SIGNOFF_SCHEMA = "readiness.signoff/1"
_COVERED = ("results", "evidence")
_REPORTS = ("readiness.json", "readiness.html", "readiness.junit.xml", "readiness.md",
            "readiness.sarif")


class SignoffError(Exception):
    """A sign-off cannot be written or read."""


def write_signoff(reports_dir: Path, release: str, approver: str, config_path: Path | None) -> int:
    """Write ``signoff-<release>.json``; exit 0 if the verdict is ready, else the verdict code."""
    verdict_path = reports_dir / "readiness.json"
    try:
        verdict = json.loads(verdict_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SignoffError(f"{verdict_path}: no readable verdict ({exc}); run "
                           "'readiness run' or 'readiness verdict' first") from None
    config = load_config(config_path) if config_path or Path("configs/readiness.yaml").exists() \
        else None
    record = {
        "schema": SIGNOFF_SCHEMA,
        "release": release,
        "approver": approver,
        "signed_at": now_utc().isoformat(),
        "verdict": verdict["verdict"],
        "git_commit": git_commit(),
        "config_digest": config.digest() if config else None,
        "tools": {c["check"]: c["tool"] for c in verdict.get("checks", [])},
        "files": digests(reports_dir),
    }
    safe_release = "".join(ch if ch.isalnum() or ch in ".-_" else "_" for ch in release)
    path = reports_dir / f"signoff-{safe_release}.json"
    write_json_atomic(path, record)
    print(f"Sign-off written: {path} (verdict {record['verdict']}, "
          f"{len(record['files'])} files digested)")
    if verdict["verdict"] != Verdict.READY.value:
        print(f"readiness: the verdict is {verdict['verdict']}; this release is not ready.",
              file=sys.stderr)
    return Verdict(verdict["verdict"]).exit_code


def verify_signoff(path: Path) -> int:
    """Recompute every digest; exit 0 if all match, 1 if anything changed, vanished or appeared."""
    try:
        record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        recorded: dict[str, str] = record["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SignoffError(f"{path}: not a readable sign-off record ({exc})") from None
    current = digests(path.parent)
    changed = sorted(n for n in recorded if n in current and current[n] != recorded[n])
    vanished = sorted(n for n in recorded if n not in current)
    appeared = sorted(n for n in current if n not in recorded)
    for name in changed:
        print(f"changed: {name}")
    for name in vanished:
        print(f"missing: {name}")
    for name in appeared:
        print(f"added:   {name}")
    if changed or vanished or appeared:
        print(f"TAMPERED: {len(changed)} changed, {len(vanished)} missing, {len(appeared)} added")
        return 1
    print(f"INTACT: {len(recorded)} files match the sign-off of release {record.get('release')}")
    return 0


def digests(reports_dir: Path) -> dict[str, str]:
    """SHA-256 of the reports and of every file under results/ and evidence/."""
    files = [reports_dir / name for name in _REPORTS if (reports_dir / name).is_file()]
    for folder in _COVERED:
        files += sorted(p for p in (reports_dir / folder).rglob("*") if p.is_file())
    return {str(p.relative_to(reports_dir)): _sha256(p) for p in files}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
