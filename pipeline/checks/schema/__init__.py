"""The ``schema`` check: the database design rules, on the real migrated database.

collect: read the catalog of the migrated database (the gate's throwaway one by default);
         when configured, apply, revert and re-apply the migrations on a scratch database
         with the project's own tool (schema_roundtrip), and lint the migration SQL with squawk.
parse:   squawk's JSON report, every field validated.
evaluate: primary keys, foreign keys with a stated ON DELETE and an index, an index for every
          column the critical queries search or join on (read with pglast), a revert that
          leaves nothing and an apply-again that builds the same catalog, squawk's blocking rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pipeline.catalog import Table, fingerprint, read_catalog
from pipeline.checks.interface import Check, CheckContext, Evaluation, FindingKind
from pipeline.checks.schema.policy import SchemaFacts, evaluate_schema
from pipeline.checks.schema.queries import Searched, searched_columns
from pipeline.checks.schema.roundtrip import RoundTrip, round_trip
from pipeline.checks.schema.settings import SchemaSettings
from pipeline.checks.schema.spec_rules import Promise, read_promises
from pipeline.checks.schema.squawk import migration_files, read_report, relative_name, run_squawk
from pipeline.model import ToolInfo

__all__ = ["SchemaCheck", "SchemaSettings"]


@dataclass(frozen=True)
class SchemaRaw:
    """The migrated catalog, the round trip (None: not configured), squawk's report file (None: not run)."""

    tables: dict[str, Table]
    round_trip: RoundTrip | None
    squawk_report: Path | None
    project_dir: Path
    missing_down: tuple[str, ...] = ()
    searched: frozenset[Searched] = frozenset()
    promises: tuple[Promise, ...] = ()


class SchemaCheck(Check[SchemaSettings, SchemaRaw, SchemaFacts]):
    """Database design: keys, foreign keys, reversible migrations, migration SQL without blocking locks."""

    name = "schema"
    title = "Database design (catalog, migrations, squawk)"
    order = 65  # after explain (60), whose plans it complements; before dashboards (70)
    needs_target = True
    Settings = SchemaSettings
    extra = "schema"
    findings = {
        "no-primary-key": FindingKind("a table has no primary key",
                                      "Add a primary key (an identity column if nothing else identifies a row)."),
        "foreign-key-unindexed": FindingKind(
            "a foreign key's referencing columns lead no index, so deletes on the parent scan the child table",
            "Create an index whose first columns are the foreign key's columns (CONCURRENTLY on a live table)."),
        "foreign-key-action": FindingKind(
            "a foreign key states no ON DELETE policy (NO ACTION, the default, is indistinguishable from forgotten)",
            "Say what deleting the parent does: ON DELETE RESTRICT, CASCADE or SET NULL."),
        "unindexed-column": FindingKind("a column a critical query searches or joins on leads no index",
                                        "Create an index led by the column (CONCURRENTLY on a live table), or "
                                        "check the query's plan in the explain check."),
        "nullable-required": FindingKind("a column stores a field the spec requires but allows NULL",
                                         "Make the column NOT NULL (backfill first on a live table)."),
        "unchecked-bound": FindingKind("a column stores a field the spec bounds (minimum, length, enum) with no "
                                       "CHECK constraint", "Add a CHECK constraint with the spec's bound "
                                                           "(NOT VALID, then VALIDATE, on a live table)."),
        "migration-up-failed": FindingKind("the migrations do not apply to an empty scratch database",
                                           "Run the up command against an empty database and fix the first error "
                                           "(the message has the tool's last lines)."),
        "migration-down-missing": FindingKind("an up migration file has no down file beside it",
                                              "Write the down step (NNNN_name.down.sql) that undoes the up step."),
        "migration-down-failed": FindingKind("reverting every migration failed on a scratch database",
                                             "Write or fix the down step of the migration named in the message."),
        "down-leaves": FindingKind("a table is left after reverting every migration",
                                   "Drop it in the down step of the migration that creates it."),
        "migration-up-again-failed": FindingKind("the migrations do not apply again after being reverted",
                                                 "Make each down step undo everything its up step did."),
        "not-reversible": FindingKind("a table differs after down and up again from the first apply",
                                      "Make the down step undo exactly what the up step did (see the message)."),
        "squawk": FindingKind("squawk found an unsafe or fragile operation in the migration SQL",
                              "Follow squawk's advice for the rule named in the id (squawkhq.com/docs/rules)."),
    }

    def collect(self, settings: SchemaSettings, ctx: CheckContext) -> SchemaRaw:
        """The migrated catalog, then the round trip and squawk when configured; evidence kept."""
        dsn = ctx.database(settings.dsn, "read")
        missing = tuple(_without_down(migration_files(settings.migrations.up_files, ctx.project_dir),
                                      ctx.project_dir))
        searched = frozenset(column for path in migration_files(settings.queries, ctx.project_dir)
                             for column in searched_columns(path, relative_name(path, ctx.project_dir)))
        promises = read_promises(ctx.resolve(settings.spec), settings.spec_tables) if settings.spec_tables else ()
        tables = read_catalog(dsn, settings.schemas)
        ctx.tool = ToolInfo("postgresql", "catalog", "run")
        trip = None
        if settings.migrations.up:
            trip = round_trip(dsn, settings.migrations, settings.schemas, ctx.project_dir, ctx.env, ctx.evidence_dir)
        report = None
        if settings.squawk.files:
            files = migration_files(settings.squawk.files, ctx.project_dir)
            report, ctx.tool = run_squawk(files, settings.squawk.excluded_rules,
                                          settings.squawk.assume_in_transaction, ctx.project_dir, ctx.evidence_dir,
                                          ctx.deadline_s)
            ctx.add_evidence(report)
        catalog = ctx.evidence_dir / "schema-catalog.json"
        catalog.write_text(json.dumps({"migrated": fingerprint(tables),
                                       **({"after_round_trip": fingerprint(trip.again)} if trip and trip.again
                                          else {})}, indent=1))
        ctx.add_evidence(catalog)
        return SchemaRaw(tables, trip, report, ctx.project_dir, missing, searched, promises)

    def parse(self, raw: SchemaRaw) -> SchemaFacts:
        """squawk's report read and validated; the catalog and round trip are already typed."""
        violations = read_report(raw.squawk_report, raw.project_dir) if raw.squawk_report else None
        return SchemaFacts(raw.tables, raw.round_trip, violations, raw.missing_down, raw.searched, raw.promises)

    def evaluate(self, parsed: SchemaFacts, settings: SchemaSettings) -> Evaluation:
        """Every rule of the settings over the facts."""
        return evaluate_schema(parsed, settings)


def _without_down(up_files: list[Path], project_dir: Path) -> list[str]:
    """The up files (relative to the project) whose ``.down.`` sibling does not exist."""
    return [relative_name(up, project_dir) for up in up_files
            if not up.with_name(up.name.replace(".up.", ".down.", 1)).is_file()]
