"""``checks.schema``: every key of the schema check, with its default and meaning.

The defaults live here and nowhere else.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.checks.interface import CheckSettings

_CLOSED = ConfigDict(frozen=True, extra="forbid", strict=True)

# squawk rules whose finding means a lock that blocks traffic, a table rewrite or a change that
# breaks running code: they fail the check. Every other squawk rule is reported, not failing.
BLOCKING_SQUAWK_RULES = (
    "adding-field-with-default", "adding-foreign-key-constraint", "adding-not-nullable-field",
    "adding-required-field", "adding-serial-primary-key-field", "ban-drop-column", "ban-drop-database",
    "ban-drop-not-null", "ban-drop-table", "changing-column-type", "constraint-missing-not-valid",
    "disallowed-unique-constraint", "renaming-column", "renaming-table", "require-concurrent-index-creation",
    "require-concurrent-index-deletion", "ban-char-field", "ban-truncate-cascade",
)


class Migrations(BaseModel):
    """How the project applies and reverts its migrations (its own tool, as its developers run it)."""

    model_config = _CLOSED

    up: tuple[str, ...] = Field((), description="the command that applies every migration ({python}: the gate's "
                                                "interpreter); DATABASE_URL and PG* name the scratch database")
    down: tuple[str, ...] = Field((), description="the command that reverts every migration")
    workdir: str = Field(".", description="where the commands run, relative to the project")
    up_files: tuple[str, ...] = Field((), description="glob patterns of up migration files (NNNN_name.up.sql): "
                                                      "each needs its down file beside it (.up. -> .down.)")
    keep_tables: tuple[str, ...] = Field(
        ("schema_migrations", "alembic_version", "django_migrations", "flyway_schema_history"),
        description="bookkeeping tables the migration tool may leave after reverting everything")
    timeout_s: float = Field(300.0, gt=0, allow_inf_nan=False, description="budget of each command")

    @model_validator(mode="after")
    def both_directions(self) -> Migrations:
        """A round trip needs both commands: one without the other is a configuration error."""
        if bool(self.up) != bool(self.down):
            raise ValueError("checks.schema.migrations needs both up and down (or neither)")
        return self


class Squawk(BaseModel):
    """The migration SQL linted by squawk (``squawk-cli`` from PyPI)."""

    model_config = _CLOSED

    files: tuple[str, ...] = Field((), description="glob patterns of the migration SQL files to lint")
    failing_rules: tuple[str, ...] = Field(BLOCKING_SQUAWK_RULES,
                                           description="squawk rules whose findings fail the check")
    excluded_rules: tuple[str, ...] = Field((), description="squawk rules not run at all (say why in a comment)")
    assume_in_transaction: bool = Field(False, description="the migration tool wraps each file in a transaction")


class SchemaSettings(CheckSettings):
    """``checks.schema``: the database the design rules run on, the round trip and the linter."""

    dsn: str | None = Field(None, description="the migrated database (default, also when empty: "
                                              "READINESS_DATABASE_URL, the gate's throwaway database)")
    schemas: tuple[str, ...] = Field(("public",), description="the schemas whose tables are judged")
    ignore_tables: tuple[str, ...] = Field((), json_schema_extra={"stricter": "fewer"},
        description="tables no design rule applies to")
    require_primary_key: bool = Field(True, json_schema_extra={"stricter": "true"},
        description="every table has a primary key")
    require_foreign_key_index: bool = Field(True, json_schema_extra={"stricter": "true"},
        description="every foreign key's referencing columns lead an index")
    require_foreign_key_actions: bool = Field(
        True, json_schema_extra={"stricter": "true"},
        description="every foreign key states ON DELETE (the default NO ACTION counts as unstated)")
    queries: tuple[str, ...] = Field((), json_schema_extra={"stricter": "more"},
        description="glob patterns of the critical queries' SQL files: every "
                                                     "column they search or join on must lead an index")
    spec: str = Field("", description="the OpenAPI file whose required fields and bounds the tables must enforce")
    spec_tables: dict[str, str] = Field(default_factory=dict,
                                        description="component schema -> the table that stores it")
    migrations: Migrations = Field(Migrations.model_validate({}),
                                   description="up/down round trip on a scratch database (off while up is empty)")
    squawk: Squawk = Field(Squawk.model_validate({}), description="lint migration SQL (off while files is empty)")
