"""Sign-off records: the verdict plus a SHA-256 of every file under the reports folder, and their check.

``readiness signoff`` first recomputes the verdict from the result files and refuses
when ``readiness.json`` says something else; then it freezes what the release manager
saw: every file under the reports folder (sign-off records excepted), the config file
(path, SHA-256 of its bytes, digest of the resolved config), the originals of evidence
copied in from outside the reports folder, and a digest of the record's own content.
``readiness verify-signoff`` recomputes all of it and says what changed.

The record's own digest guards against accidents and casual edits, not against someone
who recomputes it: it is not a signature.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipeline.config import DEFAULT_CONFIG
from pipeline.gate import load_config
from pipeline.model import Status, Verdict, now_utc, write_json_atomic
from pipeline.results import gather
from pipeline.verdict import VerdictReport, decide

SIGNOFF_SCHEMA = "readiness.signoff/1"
# Sign-off records live beside the reports; they are the only files a record does not cover.
RECORD_GLOB = "signoff-*.json"
SEAL = "record_sha256"


class SignoffError(Exception):
    """A sign-off cannot be written or read."""


def write_signoff(reports_dir: Path, release: str, approver: str, config_path: Path | None,
                  results: Iterable[Path], git_commit: str | None) -> int:
    """Write ``signoff-<release>.json``; exit 0 if the verdict is ready, else the verdict code."""
    verdict = _read_verdict(reports_dir / "readiness.json")
    recomputed = _recompute(verdict, list(results))
    record: dict[str, Any] = {
        "schema": SIGNOFF_SCHEMA,
        "release": release,
        "approver": approver,
        "signed_at": now_utc().isoformat(),
        "verdict": verdict["verdict"],
        "git_commit": git_commit,
        **_config_fields(config_path),
        "tools": {c.check: c.tool.to_dict() for c in recomputed.checks},
        "files": digests(reports_dir),
        "ingested": {i.copy: {"original": i.original, "sha256": i.sha256}
                     for c in recomputed.checks for i in c.ingested},
        # What was not checked at all, and on whose word: the approver signs that too.
        "not_applicable": {c.check: c.not_applicable.to_dict() for c in recomputed.checks
                           if c.status is Status.NOT_APPLICABLE and c.not_applicable},
    }
    record[SEAL] = seal(record)
    safe_release = "".join(ch if ch.isalnum() or ch in ".-_" else "_" for ch in release)
    path = reports_dir / f"signoff-{safe_release}.json"
    write_json_atomic(path, record)
    print(f"Sign-off written: {path} (verdict {record['verdict']}, "
          f"{len(record['files'])} files digested)")
    for check, declared in record["not_applicable"].items():
        print(f"  {check}: not applicable: {declared['reason']}, {declared['owner']} "
              f"(review by {declared['review_by']})")
    if verdict["verdict"] != Verdict.READY.value:
        print(f"readiness: the verdict is {verdict['verdict']}; this release is not ready.",
              file=sys.stderr)
    return Verdict(verdict["verdict"]).exit_code


def _read_verdict(path: Path) -> dict[str, Any]:
    try:
        verdict = json.loads(path.read_text(encoding="utf-8"))
        Verdict(verdict["verdict"])
        dt.datetime.fromisoformat(verdict["generated_at"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SignoffError(f"{path}: no readable verdict ({exc}); run 'readiness run' or "
                           "'readiness verdict' first") from None
    if not isinstance(verdict, dict) or not isinstance(verdict.get("checks", []), list):
        raise SignoffError(f"{path}: not a verdict document; run 'readiness verdict' again")
    checked: dict[str, Any] = verdict
    return checked


def _recompute(verdict: dict[str, Any], results: list[Path]) -> VerdictReport:
    """The verdict from the result files, at the recorded verdict's clock; refuse if they disagree."""
    clock = dt.datetime.fromisoformat(verdict["generated_at"])
    clock = clock if clock.tzinfo else clock.replace(tzinfo=dt.UTC)
    loaded = gather((d for d in results if d.is_dir()), clock)
    # A run recorded as interrupted stays so: that can only make the verdict less ready.
    interrupted = verdict.get("interrupted")
    report = decide(loaded.results, loaded.merges, warnings=loaded.warnings, generated_at=clock,
                    interrupted=interrupted if isinstance(interrupted, str) and interrupted else None)
    recorded = {str(c.get("check")): c.get("status") for c in verdict["checks"] if isinstance(c, dict)}
    found = {c.check: c.status.value for c in report.checks}
    differences = [f"the verdict is {verdict['verdict']} in readiness.json but {report.verdict.value} "
                   "from the results"] if verdict["verdict"] != report.verdict.value else []
    differences += [f"{name} is {recorded.get(name, 'absent')} in readiness.json but "
                    f"{found.get(name, 'absent')} in the results"
                    for name in sorted(set(recorded) | set(found)) if recorded.get(name) != found.get(name)]
    if differences:
        folders = ", ".join(str(d) for d in results)
        raise SignoffError("readiness.json does not agree with the result files in " + folders + ": "
                           + "; ".join(differences) + ". Run 'readiness verdict' again (with the same "
                           "--results folders) and review it before signing; a sign-off needs --results "
                           "when the verdict was made from other folders.")
    return report


def _config_fields(config_path: Path | None) -> dict[str, Any]:
    path = config_path or (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    if path is None:
        return {"config_digest": None, "config": None}
    resolved = load_config(path).digest()
    return {"config_digest": resolved,
            "config": {"path": str(path.resolve()), "sha256": _sha256(path), "resolved_digest": resolved}}


def seal(record: dict[str, Any]) -> str:
    """SHA-256 of the record's canonical JSON, its own seal left out."""
    content = {k: v for k, v in record.items() if k != SEAL}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def verify_signoff(path: Path) -> int:
    """Recompute every digest; exit 0 if all match, 1 if anything changed, vanished or appeared."""
    try:
        record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        recorded: dict[str, str] = dict(record["files"])
        ingested: dict[str, dict[str, str]] = dict(record.get("ingested") or {})
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SignoffError(f"{path}: not a readable sign-off record ({exc})") from None
    problems = _record_problems(record) + _file_problems(recorded, digests(path.parent))
    problems += _config_problems(record.get("config"))
    problems += _ingested_problems(ingested)
    for line in problems:
        print(line)
    if problems:
        print(f"TAMPERED: {len(problems)} difference(s) from the sign-off of release {record.get('release')}")
        return 1
    print(f"INTACT: {len(recorded)} files, the config and the record match the sign-off of release "
          f"{record.get('release')}")
    return 0


def _record_problems(record: dict[str, Any]) -> list[str]:
    if SEAL not in record:
        return ["changed: the record carries no digest of its own fields (removed, or written by an older gate)"]
    if record[SEAL] != seal(record):
        return ["changed: the record's own fields (verdict, approver, digests...) were edited after signing"]
    return []


def _file_problems(recorded: dict[str, str], current: dict[str, str]) -> list[str]:
    lines = [f"changed: {n}" for n in sorted(recorded) if n in current and current[n] != recorded[n]]
    lines += [f"missing: {n}" for n in sorted(recorded) if n not in current]
    lines += [f"added:   {n}" for n in sorted(current) if n not in recorded]
    return lines


def _config_problems(config: Any) -> list[str]:
    if not isinstance(config, dict):
        return []
    path = Path(str(config.get("path")))
    if not path.is_file():
        return [f"missing: config {path}"]
    return [] if _sha256(path) == config.get("sha256") else [f"changed: config {path}"]


def _ingested_problems(ingested: dict[str, dict[str, str]]) -> list[str]:
    """An original edited since the copy was made; an original that is gone is only noted."""
    lines = []
    for copy, entry in sorted(ingested.items()):
        original = Path(str(entry.get("original")))
        if not original.is_file():
            print(f"note:    {original} (ingested as {copy}) is no longer there; the copy is what was signed")
        elif _sha256(original) != entry.get("sha256"):
            lines.append(f"changed: {original} (outside the reports folder; ingested as {copy})")
    return lines


def digests(reports_dir: Path) -> dict[str, str]:
    """SHA-256 of every file under the reports folder, except the sign-off records themselves."""
    records = set(reports_dir.glob(RECORD_GLOB))
    files = sorted(p for p in reports_dir.rglob("*") if p.is_file() and p not in records)
    return {p.relative_to(reports_dir).as_posix(): _sha256(p) for p in files}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
