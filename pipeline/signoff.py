"""Sign-off records: the verdict plus a SHA-256 of every file under the reports folder, and their check.

``readiness signoff`` first recomputes the verdict from the result files and refuses
when ``readiness.json`` says something else; then it freezes what the release manager
saw: every file under the reports folder (sign-off records excepted), the config file
(path, SHA-256 of its bytes, digest of the resolved config), the originals of evidence
copied in from outside the reports folder, and a digest of the record's own content.
``readiness verify-signoff`` recomputes all of it and says what changed.

The record's own digest guards against accidents and casual edits, not against someone
who recomputes it: it is not a signature. With a key (``--signing-key`` or
``READINESS_SIGNING_KEY``) the record is signed too (``pipeline.signing``): a detached
Ed25519 signature ``signoff-V.json.sig`` and an in-toto statement in a DSSE envelope
``signoff-V.intoto.json``. The record also carries the approver, the baseline, the
policy and its changes as ``readiness.json`` recorded them, and ``readiness.html``
shows who signed. ``verify-signoff`` names each kind of change with its own exit code
(``pipeline.tamper``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipeline import signing
from pipeline.config import discover
from pipeline.gate import load_config
from pipeline.model import Status, Verdict, now_utc, write_json_atomic, write_text_atomic
from pipeline.reporters.html import with_signoff
from pipeline.results import gather, held_to_settings
from pipeline.settings_digest import expected_digests
from pipeline.verdict import VerdictReport, decide

SIGNOFF_SCHEMA = "readiness.signoff/1"
# Sign-off records (their envelopes signoff-V.intoto.json, their signatures signoff-V.json.sig) live beside
# the reports; the only files a record does not cover.
RECORD_GLOB = "signoff-*.json"
SIGNATURE_GLOB = "signoff-*.json.sig"
SEAL = "record_sha256"
_RANK = {Verdict.READY: 0, Verdict.INCOMPLETE: 1, Verdict.NOT_READY: 2}


class SignoffError(Exception):
    """A sign-off cannot be written or read."""


def write_signoff(reports_dir: Path, release: str, approver: str, config_path: Path | None,
                  results: Iterable[Path], git_commit: str | None, key_path: Path | None = None) -> int:
    """Write ``signoff-<release>.json`` (signed when a key is given); exit 0 if ready, else the verdict code."""
    verdict = _read_verdict(reports_dir / "readiness.json")
    recomputed = _recompute(verdict, list(results), config_path)
    try:
        key = signing.private_key(key_path)  # before anything is written: a bad key changes nothing
    except signing.SigningError as exc:
        raise SignoffError(str(exc)) from None
    safe_release = "".join(ch if ch.isalnum() or ch in ".-_" else "_" for ch in release)
    path = reports_dir / f"signoff-{safe_release}.json"
    signed_at = now_utc().isoformat()
    _show_in_html(reports_dir, {"state": "signed" if key else "recorded (digests only, no signature)",
                                "release": release, "approver": approver, "signed_at": signed_at,
                                "record": path.name, "key": signing.signer(key)["keyid"] if key else None},
                  verdict)
    comparison: dict[str, Any] = verdict["comparison"] if isinstance(verdict.get("comparison"), dict) else {}
    record: dict[str, Any] = {
        "schema": SIGNOFF_SCHEMA,
        "release": release,
        "approver": approver,
        "signed_at": signed_at,
        "verdict": verdict["verdict"],
        "git_commit": git_commit,
        **_config_fields(config_path),
        "tools": {c.check: c.tool.to_dict() for c in recomputed.checks},
        "files": digests(reports_dir),
        "ingested": {i.copy: {"original": i.original, "sha256": i.sha256}
                     for c in recomputed.checks for i in c.ingested},
        "baseline": comparison.get("baseline"),
        "policy": verdict.get("policy"),
        "policy_changes": comparison.get("policy_changes", []),
        **({"signature": signing.signer(key)} if key else {}),
        # What was not checked at all, and on whose word: the approver signs that too.
        "not_applicable": {c.check: c.not_applicable.to_dict() for c in recomputed.checks
                           if c.status is Status.NOT_APPLICABLE and c.not_applicable},
    }
    record[SEAL] = seal(record)
    write_json_atomic(path, record)
    if key:
        _sign(key, path, record)
    print(f"Sign-off written: {path} (verdict {record['verdict']}, "
          f"{len(record['files'])} files digested)")
    for check, declared in record["not_applicable"].items():
        print(f"  {check}: not applicable: {declared['reason']}, {declared['owner']} "
              f"(review by {declared['review_by']})")
    if verdict["verdict"] != Verdict.READY.value:
        print(f"readiness: the verdict is {verdict['verdict']}; this release is not ready.",
              file=sys.stderr)
    return Verdict(verdict["verdict"]).exit_code


def _show_in_html(reports_dir: Path, state: dict[str, Any], verdict: dict[str, Any]) -> None:
    """readiness.html's sign-off block shows who signed (before the digests are taken)."""
    page_path = reports_dir / "readiness.html"
    try:
        page = with_signoff(page_path.read_text(encoding="utf-8"), state, str(verdict["verdict"]),
                            str(verdict["generated_at"]))
    except OSError:
        return  # no page to mark; the digests say it is missing
    if page is not None:
        write_text_atomic(page_path, page)


def _sign(key: Any, path: Path, record: dict[str, Any]) -> None:
    """The detached signature of the record's bytes, and the DSSE envelope of its in-toto statement."""
    data = path.read_bytes()
    write_text_atomic(path.with_name(path.name + ".sig"), signing.sign(key, data) + "\n")
    predicate = {k: record.get(k) for k in ("release", "approver", "signed_at", "verdict", "git_commit", "baseline",
                                            "policy_changes", "config_digest")}
    subjects = {**record["files"], path.name: hashlib.sha256(data).hexdigest()}
    write_json_atomic(envelope_path(path), signing.envelope(key, signing.statement(subjects, predicate)))


def envelope_path(record: Path) -> Path:
    """Where the DSSE envelope of a record is written: ``signoff-V.intoto.json`` beside ``signoff-V.json``."""
    return record.with_name(record.name.removesuffix(".json") + ".intoto.json")


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


def _recompute(verdict: dict[str, Any], results: list[Path], config_path: Path | None = None) -> VerdictReport:
    """The verdict from the result files, at the recorded verdict's clock; refuse if they disagree. A verdict
    made with a config (it records a policy) held the results to its settings: so are they here, to the
    config the sign-off names, which must then be the verdict's."""
    clock = dt.datetime.fromisoformat(verdict["generated_at"])
    clock = clock if clock.tzinfo else clock.replace(tzinfo=dt.UTC)
    loaded = gather((d for d in results if d.is_dir()), clock)
    named = config_path or discover(None, os.environ)
    with_config = isinstance(verdict.get("policy"), dict) and (config_path or named.exists())
    expected = expected_digests(load_config(named)) if with_config else None
    # A run recorded as interrupted stays so: that can only make the verdict less ready.
    interrupted = verdict.get("interrupted")
    report = decide(held_to_settings(loaded.results, expected), loaded.merges, warnings=loaded.warnings,
                    generated_at=clock,
                    interrupted=interrupted if isinstance(interrupted, str) and interrupted else None)
    recorded = {str(c.get("check")): c.get("status") for c in verdict["checks"] if isinstance(c, dict)}
    found = {c.check: c.status.value for c in report.checks}
    # A baseline comparison may make the verdict worse than its checks (a loosening, a broken delta rule, an
    # unreadable baseline); never better.
    worse = _RANK[Verdict(verdict["verdict"])] > _RANK[report.verdict] and isinstance(verdict.get("comparison"), dict)
    differences = [f"the verdict is {verdict['verdict']} in readiness.json but {report.verdict.value} "
                   "from the results"] if verdict["verdict"] != report.verdict.value and not worse else []
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
    # The config the run found: --config, READINESS_CONFIG, configs/readiness.yaml or pyproject.toml.
    found = config_path or discover(None, os.environ)
    path = found if config_path or found.exists() else None
    if path is None:
        return {"config_digest": None, "config": None}
    resolved = load_config(path).digest()
    return {"config_digest": resolved,
            "config": {"path": str(path.resolve()), "sha256": sha256_file(path), "resolved_digest": resolved}}


def seal(record: dict[str, Any]) -> str:
    """SHA-256 of the record's canonical JSON, its own seal left out."""
    content = {k: v for k, v in record.items() if k != SEAL}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def verify_signoff(path: Path, trusted: Iterable[Path] = ()) -> int:
    """Recompute every digest and check the signature against the ``trusted`` public keys; the exit code
    names the kind of change (``pipeline.tamper``)."""
    from pipeline.tamper import verify  # it reads records as this module writes them

    return verify(path, list(trusted))


def digests(reports_dir: Path) -> dict[str, str]:
    """SHA-256 of every file under the reports folder, except the sign-off records themselves."""
    records = {*reports_dir.glob(RECORD_GLOB), *reports_dir.glob(SIGNATURE_GLOB)}
    files = sorted(p for p in reports_dir.rglob("*") if p.is_file() and p not in records)
    return {p.relative_to(reports_dir).as_posix(): sha256_file(p) for p in files}


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
