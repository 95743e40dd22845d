"""The explain check's settings (``checks.explain``), their defaults, and each query's rules.

A query's rules are the ``defaults`` with what the query sets itself; ``rules_for`` computes
them from the settings alone, so ``evaluate`` judges every plan from the settings it is given.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from pipeline.checks.interface import CheckSettings

_CLOSED = ConfigDict(frozen=True, extra="forbid", strict=True)
Budget = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Rows = Annotated[int, Field(ge=0)]
Factor = Annotated[float, Field(ge=1, allow_inf_nan=False)]
# A bare name ending in .sql is a file, never a statement: the old meaning of sql, refused with the fix.
_OLD_FILE_KEY = re.compile(r"\S+\.sql", re.IGNORECASE)
RULE_KEYS = ("max_ms", "max_seq_scan_rows", "max_estimate_factor", "max_shared_read_blocks")
OPTIONAL_RULES = ("max_estimate_factor", "max_shared_read_blocks")  # null turns these off
# A query's own rule: lower is stricter; unset, the settings' `defaults` apply (the policy record follows that).
_INHERITED: dict[str, Any] = {"stricter": "lower", "unset": "defaults"}


class Rules(BaseModel):
    """The rules a plan is judged by (``checks.explain.defaults``; a query may set any of them)."""

    model_config = _CLOSED

    max_ms: Budget = Field(100.0, json_schema_extra={"stricter": "lower"},
                           description="median execution time budget, in ms")
    max_seq_scan_rows: Rows = Field(10_000, json_schema_extra={"stricter": "lower"},
                                   description="most rows a Seq Scan may read (returned plus filtered)")
    max_estimate_factor: Factor | None = Field(
        100.0, json_schema_extra={"stricter": "lower"},
        description="most an estimate may be off (actual vs planned rows, either way); null: not judged")
    max_shared_read_blocks: Rows | None = Field(
        None, json_schema_extra={"stricter": "lower"},
        description="most shared blocks the query may read from outside the cache; null: not judged")


class Query(BaseModel):
    """One critical query: its SQL file (or an ingested plan), its parameters and its own rules."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True,
                              json_schema_extra={"anyOf": [{"required": ["sql"]}, {"required": ["sql_file"]},
                                                           {"required": ["plan"]}]})

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="the query's name in findings and reports")
    sql: str | SkipJsonSchema[None] = Field(None, description="the statement itself, inline (:name or %(name)s "
                                                              "placeholders)")
    sql_file: str | SkipJsonSchema[None] = Field(None, description="a file holding the statement (relative to the "
                                                                   "project)")
    plan: str | None = Field(None, description="ingest: a file with EXPLAIN (ANALYZE, FORMAT JSON) output")
    params: dict[str, Any] = Field(default_factory=dict, description="the placeholders' values")
    param_sets: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="several named parameter sets, each explained and judged on its own")
    writes: bool = Field(False, description="allow INSERT/UPDATE/DELETE/MERGE, FOR UPDATE and side-effect "
                                            "functions (still rolled back)")
    max_ms: Budget | SkipJsonSchema[None] = Field(None, json_schema_extra=_INHERITED,
                                                  description="default: defaults.max_ms")
    max_seq_scan_rows: Rows | SkipJsonSchema[None] = Field(None, json_schema_extra=_INHERITED,
                                                            description="default: defaults.max_seq_scan_rows")
    max_estimate_factor: Factor | None = Field(None, json_schema_extra=_INHERITED,
                                               description="default: defaults.max_estimate_factor")
    max_shared_read_blocks: Rows | None = Field(None, json_schema_extra=_INHERITED,
                                                 description="default: defaults.max_shared_read_blocks")

    @model_validator(mode="after")
    def sql_or_plan(self) -> Query:
        """A query is explained from its SQL or judged from an ingested plan: one of them is needed."""
        if self.sql and _OLD_FILE_KEY.fullmatch(self.sql.strip()):
            raise ValueError(f"query {self.name}: sql is the statement itself; {self.sql.strip()!r} names a file: "
                             f"write sql_file: {self.sql.strip()} instead")
        if self.sql and self.sql_file:
            raise ValueError(f"query {self.name} sets both sql (inline) and sql_file: keep one")
        if not self.sql and not self.sql_file and not self.plan:
            raise ValueError(f"query {self.name} names neither sql / sql_file (a statement to explain) nor plan "
                             "(a plan to judge)")
        return self


class ExplainSettings(CheckSettings):
    """``checks.explain``: where to explain, how, and the queries with their rules."""

    dsn: str | None = Field(None, description="the database (default, also when empty: READINESS_DATABASE_URL)")
    role: Annotated[str, Field(min_length=1)] | None = Field(
        None, description="role the check switches to (SET LOCAL ROLE) before each EXPLAIN; give it read-only grants")
    runs: int = Field(3, ge=1, json_schema_extra={"stricter": "higher"},
                      description="measured runs per query after one warm-up; the median is judged")
    statement_timeout_ms: int = Field(
        5_000, ge=1, description="per statement; lowered when needed so that every run fits in timeout_s")
    baseline: str | None = Field(
        None, description="a committed plan history (a copy of evidence/explain-plans.json) or explain result file: "
                          "a plan that regressed against it fails, any other change is reported")
    compare_previous_run: bool = Field(
        False, description="without a baseline, judge each plan against the last run's that did not regress "
                           "(evidence/explain-plans.json)")
    plan_tolerance: float = Field(
        0.25, ge=0, description="how much higher than the baseline's a plan's total cost or buffers may be "
                                "(0.25: 25%) before it counts as a regression")
    defaults: Rules = Field(Rules.model_validate({}), description="the rules of every query that sets none itself")
    queries: tuple[Query, ...] = Field((), json_schema_extra={"stricter": "more", "key": "name"},
                                      description="the critical queries")

    @field_validator("queries")
    @classmethod
    def names_are_unique(cls, queries: tuple[Query, ...]) -> tuple[Query, ...]:
        """Two queries of one name would share findings, waivers and plan history."""
        names = [q.name for q in queries]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"each query name must be unique; given more than once: {', '.join(twice)}")
        return queries

    def query(self, name: str) -> Query | None:
        """The query called ``name``, if the settings hold one."""
        return next((q for q in self.queries if q.name == name), None)


def rules_for(settings: ExplainSettings, name: str) -> Rules:
    """The rules of query ``name``: the defaults, with the ones the query sets itself (an explicit
    null included: ``max_estimate_factor: null`` turns that rule off for the query)."""
    query = settings.query(name)
    if query is None:
        return settings.defaults
    own = {key: getattr(query, key) for key in RULE_KEYS if key in query.model_fields_set}
    # A budget and a row limit always apply (the schema refuses null for them).
    own = {key: value for key, value in own.items() if value is not None or key in OPTIONAL_RULES}
    return settings.defaults.model_copy(update=own)
