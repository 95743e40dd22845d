"""``checks.audit``: every key of the audit check, with its default and meaning (defaults live here only)."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field

from pipeline.checks.interface import CheckSettings

Severity = Literal["low", "medium", "moderate", "high", "critical"]


class AuditSettings(CheckSettings):
    """The audit check's configuration: what to audit, against what, and the policy."""

    requirements: tuple[str, ...] = Field((), json_schema_extra={"stricter": "more"},
                                          description="pinned requirements files (name==version, -r includes)")
    npm_lock: str | None = Field(None, description="a package-lock.json (lockfileVersion 2 or 3)")
    report: str | None = Field(None, description="ingest: a pip-audit JSON or npm audit JSON report")
    osv_dir: str | None = Field(None, description="offline: a folder of OSV records (JSON/YAML, or all.zip exports)")
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
