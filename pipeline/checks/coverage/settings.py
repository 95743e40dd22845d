"""``checks.coverage``: every key of the coverage check, with its default and meaning.

The defaults live here and nowhere else. A ``command`` written as one string is split like
a shell would split it (never run through a shell); one that cannot be split, or splits
into nothing, is a configuration error naming the key.
"""

from __future__ import annotations

import re
import shlex
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from pipeline.checks.interface import CheckSettings

NonEmpty = Annotated[str, StringConstraints(min_length=1)]


class CoverageSettings(CheckSettings):
    """The coverage check's configuration."""

    command: NonEmpty | Annotated[tuple[str, ...], Field(min_length=1)] | None = Field(
        None, description="the test command: a list, or a string split like a shell (never run through one); "
                          "unset: ingest the reports only")
    cobertura: str | None = Field(None, description="the Cobertura XML coverage report to read")
    lcov: str | None = Field(None, description="the LCOV tracefile to read (when cobertura is not set)")
    junit: str | tuple[str, ...] | None = Field(None, description="JUnit XML report(s) of the test run")
    cwd: str = Field(".", description="where the command runs; relative <source> paths of the report start here")
    env: dict[str, str] = Field(default_factory=dict, description="variables added to the command's environment; "
                                "{db_host}, {db_port}, {db_user}, {db_password}, {db_name} in a value are the "
                                "parts of the suite's database (database: fresh or service)")
    min_line_rate: float = Field(0.90, ge=0, le=1, allow_inf_nan=False, json_schema_extra={"stricter": "higher"},
                                 description="minimum line coverage, from the line counts (never a rounded rate)")
    min_branch_rate: float | None = Field(None, ge=0, le=1, allow_inf_nan=False,
                                          json_schema_extra={"stricter": "higher"},
                                          description="minimum branch coverage; unset: not gated")
    sources: tuple[NonEmpty, ...] = Field(
        (), json_schema_extra={"stricter": "more"},
        description="folders whose source files (with the report's extensions) must all be in the report; "
                        "default: the folders coverage.py names in <sources>")
    database: Literal["none", "fresh", "service"] = Field(
        "none", description="the database the test command gets when the gate owns the target (service.start): "
        "none; fresh, a separate database on the gate's PostgreSQL migrated with the setup commands; or service, "
        "the service's own. Handed as DATABASE_URL and PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE")
    omit: tuple[NonEmpty, ...] = Field(
        (), json_schema_extra={"stricter": "fewer"},
        description="globs (relative to the project or to a source folder) of files that need not be "
                        "in the report")

    @field_validator("command")
    @classmethod
    def _splittable(cls, command: str | tuple[str, ...] | None) -> str | tuple[str, ...] | None:
        if isinstance(command, str):
            try:
                words = shlex.split(command)
            except ValueError as exc:
                raise ValueError(f"cannot be split like a shell would: {exc}") from None
            if not words:
                raise ValueError("holds no word to run")
        return command

    @model_validator(mode="after")
    def _placeholders_need_a_database(self) -> CoverageSettings:
        named = sorted(k for k, v in self.env.items() if re.search(r"\{db_(host|port|user|password|name)\}", v))
        if named and self.database == "none":
            raise ValueError(f"env {', '.join(named)} names a {{db_*}} placeholder, but database is none: "
                             "set database to fresh or service")
        return self

    def argv(self) -> tuple[str, ...]:
        """The test command as an argument list (empty: ingest mode)."""
        if self.command is None:
            return ()
        return tuple(shlex.split(self.command)) if isinstance(self.command, str) else self.command

    def junit_files(self) -> tuple[str, ...]:
        """``junit`` as a list of paths."""
        if self.junit is None:
            return ()
        return (self.junit,) if isinstance(self.junit, str) else self.junit
