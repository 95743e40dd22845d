"""The schema check's rules, applied to what collect read: pure, no database, no files."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pipeline.catalog import Constraint, Index, Table, differences, fingerprint
from pipeline.checks.interface import Evaluation
from pipeline.checks.schema.queries import Searched
from pipeline.checks.schema.roundtrip import RoundTrip
from pipeline.checks.schema.settings import SchemaSettings
from pipeline.checks.schema.spec_rules import Promise
from pipeline.checks.schema.squawk import Violation
from pipeline.model import Finding, Measurement, Status
from pipeline.views import Facts


@dataclass(frozen=True)
class SchemaFacts:
    """Everything the rules judge: the migrated catalog, the round trip and squawk's report (None: not run)."""

    tables: dict[str, Table]
    round_trip: RoundTrip | None = None
    violations: tuple[Violation, ...] | None = None
    missing_down: tuple[str, ...] = ()  # up migration files without their down file
    searched: frozenset[Searched] = frozenset()  # columns the critical queries search or join on
    promises: tuple[Promise, ...] = ()  # required fields and bounds the spec declares


def evaluate_schema(facts: SchemaFacts, settings: SchemaSettings) -> Evaluation:
    """Every design rule, the round trip and the linter: failing findings fail the check."""
    judged = {name: t for name, t in facts.tables.items() if t.name not in settings.ignore_tables}
    findings = [*design_findings(judged, settings), *unindexed_findings(judged, facts.searched),
                *promise_findings(judged, facts.promises),
                *missing_down_findings(facts.missing_down),
                *round_trip_findings(facts.round_trip, settings),
                *squawk_findings(facts.violations, settings)]
    failing = [f for f in findings if f.failing]
    measurements = (
        Measurement("tables judged", len(judged)),
        Measurement("design problems", sum(1 for f in failing if f.id.split(":")[0] in _DESIGN_KINDS), "", "== 0",
                    not any(f.id.split(":")[0] in _DESIGN_KINDS for f in failing)),
        Measurement("migration round trip", _round_trip_word(facts.round_trip)),
        Measurement("squawk violations", "not run" if facts.violations is None else len(facts.violations)),
    )
    summary = (f"{len(failing)} problem(s) in {len(judged)} table(s)." if failing
               else f"{len(judged)} table(s) follow the design rules.")
    if not judged:
        return Evaluation(Status.ERROR, "The database has no table in the judged schemas.",
                          ("An empty schema proves nothing: check the DSN, checks.schema.schemas and that the "
                           "migrations ran.",), measurements, tuple(findings))
    return Evaluation(Status.FAIL if failing else Status.PASS, summary, tuple(f.title for f in failing),
                      measurements, tuple(findings), views=(_facts(judged, facts),))


_DESIGN_KINDS = ("no-primary-key", "foreign-key-unindexed", "foreign-key-action", "unindexed-column",
                 "nullable-required", "unchecked-bound")


def design_findings(tables: dict[str, Table], settings: SchemaSettings) -> Iterator[Finding]:
    """Primary keys, foreign keys with a stated ON DELETE and an index on their columns."""
    for name, table in sorted(tables.items()):
        keys = [c for c in table.constraints if c.kind == "f"]
        if settings.require_primary_key and not any(c.kind == "p" for c in table.constraints):
            yield Finding(f"no-primary-key:{name}", "high", f"Table {name} has no primary key", name)
        for key in keys:
            where = f"{name}.{key.name}"
            if settings.require_foreign_key_index and not _indexed(key, table.indexes):
                yield Finding(f"foreign-key-unindexed:{where}", "medium",
                              f"Foreign key {key.name} on {name} ({', '.join(key.columns)}) has no index on its "
                              "referencing columns", name, message=key.definition)
            if settings.require_foreign_key_actions and key.on_delete == "NO ACTION":
                yield Finding(f"foreign-key-action:{where}", "medium",
                              f"Foreign key {key.name} on {name} states no ON DELETE policy", name,
                              message=key.definition)


def unindexed_findings(tables: dict[str, Table], searched: frozenset[Searched]) -> Iterator[Finding]:
    """Each column a critical query searches or joins on that leads no full index of its table."""
    by_name = {t.name: t for t in tables.values()}
    for column in sorted(searched, key=lambda c: (c.table, c.column, c.query)):
        table = by_name.get(column.table)
        if table is not None and not any(not i.partial and i.columns[:1] == (column.column,)
                                         for i in table.indexes):
            yield Finding(f"unindexed-column:{table.qualified}.{column.column}", "medium",
                          f"Column {table.qualified}.{column.column}, which {column.query} searches on, leads no "
                          "index", table.qualified, file=column.query)


def promise_findings(tables: dict[str, Table], promises: tuple[Promise, ...]) -> Iterator[Finding]:
    """Required fields stored NOT NULL; bounded fields guarded by a CHECK (a foreign key guards its own)."""
    by_name = {t.name: t for t in tables.values()}
    for promise in promises:
        table = by_name.get(promise.table)
        column = next((c for c in table.columns if c.name == promise.column), None) if table else None
        if table is None or column is None:
            continue  # a property that is not a stored column (a list of lines, a computed total)
        where = f"{table.qualified}.{column.name}"
        if promise.required and not column.not_null:
            yield Finding(f"nullable-required:{where}", "medium", f"Column {where} allows NULL, but "
                          f"{promise.schema}.{promise.column} is required by the spec", table.qualified)
        guarded = any(c.kind in ("c", "f") and column.name in c.columns for c in table.constraints)
        if promise.bounds and not guarded:
            yield Finding(f"unchecked-bound:{where}", "medium", f"Column {where} has no CHECK for the spec's "
                          f"{', '.join(promise.bounds)} on {promise.schema}.{promise.column}", table.qualified)


def _indexed(key: Constraint, indexes: list[Index]) -> bool:
    """Whether some full (not partial) index starts with exactly the key's columns, in any order."""
    width = len(key.columns)
    return any(not i.partial and set(i.columns[:width]) == set(key.columns) for i in indexes)


def missing_down_findings(missing: tuple[str, ...]) -> Iterator[Finding]:
    """Each up migration without its down file: it can never be reverted."""
    for name in missing:
        yield Finding(f"migration-down-missing:{name}", "high", f"Migration {name} has no down step", name,
                      file=name)


def round_trip_findings(trip: RoundTrip | None, settings: SchemaSettings) -> Iterator[Finding]:
    """A revert that fails or leaves tables, an apply-again that fails or builds something else."""
    if trip is None:
        return
    if trip.first is None:
        yield Finding("migration-up-failed:up", "high", "The migrations do not apply to an empty database",
                      "migrations", message=trip.failure)
        return
    if trip.reverted is None:
        yield Finding("migration-down-failed:down", "high", "Reverting every migration failed", "migrations",
                      message=trip.failure)
        return
    for name, table in sorted(trip.reverted.items()):
        if table.name not in settings.migrations.keep_tables:
            yield Finding(f"down-leaves:{name}", "high", f"Table {name} is left after reverting every migration",
                          name)
    if trip.again is None:
        yield Finding("migration-up-again-failed:up", "high", "Applying the migrations again after reverting "
                      "them failed", "migrations", message=trip.failure)
        return
    for changed, lines in differences(fingerprint(trip.first), fingerprint(trip.again)).items():
        yield Finding(f"not-reversible:{changed}", "high", f"Table {changed} differs after down and up again",
                      changed, message="; ".join(lines))


def squawk_findings(violations: tuple[Violation, ...] | None, settings: SchemaSettings) -> Iterator[Finding]:
    """squawk's violations: the blocking rules (and SQL it cannot parse) fail, the others are reported."""
    for v in violations or ():
        failing = v.rule in settings.squawk.failing_rules or v.level == "Error"
        yield Finding(f"squawk:{v.rule}:{v.file}:{v.line}", "medium" if failing else "low",
                      f"{v.file}:{v.line}: {v.message}", v.file, failing=failing, message=v.message,
                      remediation=v.help, file=v.file, line=v.line, tags=(v.rule,))


def _round_trip_word(trip: RoundTrip | None) -> str:
    if trip is None:
        return "not configured"
    if trip.first is None or trip.reverted is None or trip.again is None:
        return "failed"
    return "differs" if differences(fingerprint(trip.first), fingerprint(trip.again)) else "identical"


def _facts(tables: dict[str, Table], facts: SchemaFacts) -> Facts:
    keys = sum(1 for t in tables.values() for c in t.constraints if c.kind == "f")
    indexes = sum(len(t.indexes) for t in tables.values())
    return Facts("Database design", (
        ("tables", ", ".join(sorted(tables))), ("foreign keys", str(keys)), ("indexes", str(indexes)),
        ("migration round trip (up, down, up)", _round_trip_word(facts.round_trip)),
        ("squawk", "not run" if facts.violations is None else f"{len(facts.violations)} violation(s)")))
