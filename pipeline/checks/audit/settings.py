"""``checks.audit``: every key of the audit check, with its default and meaning (defaults live here only)."""

from __future__ import annotations

from pathlib import PurePath
from typing import Literal, get_args

from pydantic import Field, field_validator

from pipeline.checks.audit.lockfiles import KNOWN, reader_for
from pipeline.checks.interface import CheckSettings

Severity = Literal["low", "medium", "moderate", "high", "critical"]


class AuditSettings(CheckSettings):
    """The audit check's configuration: what to audit, against what, and the policy."""

    requirements: tuple[str, ...] = Field((), json_schema_extra={"stricter": "more"},
                                          description="pinned requirements files (name==version, -r includes)")
    npm_lock: str | None = Field(None, description="a package-lock.json (lockfileVersion 1, 2 or 3); the same as "
                                                  "naming it in lock_files")
    lock_files: tuple[str, ...] = Field((), json_schema_extra={"stricter": "more"},
                                        description="lock files, read by their name: uv.lock, poetry.lock, "
                                        "Pipfile.lock, pylock.toml, package-lock.json, npm-shrinkwrap.json, "
                                        "yarn.lock (classic and berry), pnpm-lock.yaml, or a hashed requirements .txt")
    dev_dependencies: Literal["report", "gate"] = Field(
        "report", json_schema_extra={"stricter": "higher", "scale": ["report", "gate"]},
        description="report: vulnerabilities (and unaudited packages) that only development dependencies "
        "have are shown, marked dev, and do not fail; gate: they count like run-time ones")
    report: str | None = Field(None, description="ingest: a pip-audit JSON or npm audit JSON report")
    osv_dir: str | None = Field(None, description="offline: a folder of OSV records (JSON/YAML, or all.zip exports)")
    max_database_age_days: int | None = Field(
        30, ge=1, json_schema_extra={"stricter": "lower"},
        description="offline: the newest record of osv_dir (its OSV `modified`) may be at most this many days old, "
                    "else the audit is an error (a stale clone misses what was published since); null: not judged")
    service: Literal["pypi", "osv"] = Field("pypi", description="pip-audit's vulnerability service when "
                                                                "auditing online")
    fail_at: Severity = Field("high", json_schema_extra={"stricter": "lower", "scale": list(get_args(Severity))},
                              description="vulnerabilities at or above this severity fail")
    unknown_severity: Severity = Field("high", json_schema_extra={"stricter": "higher",
                                                                     "scale": list(get_args(Severity))},
                                       description="how a vulnerability without any severity counts")
    allow_unaudited: bool = Field(False, json_schema_extra={"stricter": "false"},
                                  description="pass even when some dependencies could not be audited "
                                                     "(listed)")

    @field_validator("lock_files")
    @classmethod
    def _known_names(cls, files: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [f for f in files if reader_for(PurePath(f).name) is None]
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not a lock file the gate reads; the format follows the file "
                             f"name: {', '.join(KNOWN)}")
        return files
