"""The baseline a run is compared with: a previous ``reports/`` folder, its ``readiness.json``, or a sign-off record.

Whatever is wrong with it (missing, unreadable, truncated, not a verdict, written by a
newer gate, for another service, changed after its sign-off) raises ``BaselineError``
naming the file; the caller then never lets the verdict be ``ready``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from pipeline.model import VERDICT_SCHEMA, CheckResult
from pipeline.signoff import SEAL, SIGNOFF_SCHEMA, seal
from pipeline.verdict import validate_verdict

MAX_BASELINE_BYTES = 64 << 20


class BaselineError(Exception):
    """The baseline cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Baseline:
    """A previous verdict: where it was read, what it decided, its policy and its check results."""

    given: str
    path: str
    sha256: str
    verdict: str
    generated_at: str
    service: str | None
    policy: dict[str, Any] | None
    checks: tuple[CheckResult, ...]
    signoff: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """What ``readiness.json`` and the sign-off record say about the baseline."""
        return {"given": self.given, "path": self.path, "sha256": self.sha256, "verdict": self.verdict,
                "generated_at": self.generated_at, "service": self.service, "signoff": self.signoff}


def load_baseline(given: Path, service: str | None = None) -> Baseline:
    """The baseline at ``given``; ``service`` (this run's) must match the baseline's when both are known."""
    path, signoff = _verdict_file(given)
    data, digest = _read_json(path)
    _check_schema(path, data)
    if signoff is not None and signoff["files"].get("readiness.json") != digest:
        raise BaselineError(f"{path}: it changed after its sign-off {given} was written (SHA-256 differs); "
                            "use the signed artifact as it was released")
    theirs = (data.get("environment") or {}).get("service")
    if service and theirs and theirs != service:
        raise BaselineError(f"{path}: the baseline is for service '{theirs}', this run is for '{service}'; "
                            "pass the baseline of the same service")
    checks = tuple(CheckResult.from_dict(c) for c in data["checks"])
    policy = data.get("policy") if isinstance(data.get("policy"), dict) else None
    return Baseline(str(given), str(path), digest, data["verdict"], data["generated_at"], theirs, policy, checks,
                    str(given) if signoff is not None else None)


def _verdict_file(given: Path) -> tuple[Path, dict[str, Any] | None]:
    """The ``readiness.json`` that ``given`` means, and the sign-off record when ``given`` is one."""
    if given.is_dir():
        path = given / "readiness.json"
        if not path.is_file():
            raise BaselineError(f"{given}: the folder holds no readiness.json; pass the reports folder of "
                                "the baseline run (or its readiness.json or sign-off record)")
        return path, None
    data, _ = _read_json(given)
    if isinstance(data, dict) and data.get("schema") == SIGNOFF_SCHEMA:
        if data.get(SEAL) != seal(data) or not isinstance(data.get("files"), dict):
            raise BaselineError(f"{given}: the sign-off record was edited after it was written (its own digest "
                                "differs); check it with 'readiness verify-signoff'")
        return given.parent / "readiness.json", data
    return given, None


def _read_json(path: Path) -> tuple[Any, str]:
    try:
        if path.stat().st_size > MAX_BASELINE_BYTES:
            raise BaselineError(f"{path}: larger than {MAX_BASELINE_BYTES} bytes; not a baseline")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BaselineError(f"{path}: the baseline does not exist") from None
    except OSError as exc:
        raise BaselineError(f"{path}: the baseline cannot be read ({exc.strerror})") from None
    try:
        return json.loads(raw.decode("utf-8")), hashlib.sha256(raw).hexdigest()
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BaselineError(f"{path}: not readable JSON, corrupt or truncated ({exc})") from None


def _check_schema(path: Path, data: Any) -> None:
    schema = data.get("schema") if isinstance(data, dict) else None
    family, _, version = str(schema).partition("/")
    if family == VERDICT_SCHEMA.split("/")[0] and version.isdigit() and int(version) > 1:
        raise BaselineError(f"{path}: written by a newer gate ({schema}); this gate reads {VERDICT_SCHEMA}. "
                            "Upgrade the gate or pass an older baseline")
    if schema != VERDICT_SCHEMA:
        raise BaselineError(f"{path}: not a verdict document (schema {schema!r}, expected {VERDICT_SCHEMA})")
    try:
        validate_verdict(data)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise BaselineError(f"{path}: not a valid verdict at {where}: {exc.message}") from None
