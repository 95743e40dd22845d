"""The schema check on a real PostgreSQL: design rules, the migration round trip, squawk."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.catalog import Constraint, Index, differences
from pipeline.checks.schema.policy import _indexed
from pipeline.checks.schema.roundtrip import connection_variables, scratch_database, with_database
from pipeline.checks.schema.squawk import read_report, squawk_binary
from pipeline.config import ConfigError
from pipeline.errors import ParseError
from pipeline.model import CheckResult, Status
from pipeline.runner import run_check
from tests.conftest import EXAMPLE, REPO, config_from, need_example_service, others_off

EXAMPLE_MIGRATIONS = EXAMPLE / "migrations"
MIGRATE = '["{python}", "-m", "orders_service.migrate"'

GOOD = """
CREATE TABLE parent (id bigint PRIMARY KEY);
CREATE TABLE child (id bigint PRIMARY KEY, parent_id bigint NOT NULL REFERENCES parent (id) ON DELETE CASCADE);
CREATE INDEX child_parent_idx ON child (parent_id, id);
"""
BAD = """
CREATE TABLE parent (id bigint PRIMARY KEY);
CREATE TABLE child (id bigint PRIMARY KEY, parent_id bigint NOT NULL REFERENCES parent (id));
CREATE TABLE loose (name text);
"""


@pytest.fixture
def database(postgres_dsn: str) -> Iterator[str]:
    """A fresh database on the session's PostgreSQL, dropped afterwards."""
    with scratch_database(postgres_dsn) as dsn:
        yield dsn


def _ddl(dsn: str, ddl: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(ddl.encode())  # the test's own DDL: several statements, simple protocol


def _run(tmp_path: Path, dsn: str, extra: str = "") -> CheckResult:
    config = config_from(tmp_path, f"version: 1\nchecks:\n{others_off('schema')}"
                                   f"  schema:\n    dsn: {json.dumps(dsn)}\n{extra}")
    return run_check("schema", config, tmp_path / "reports", REPO)


def _measured(result: CheckResult, name: str) -> object:
    return next(m.value for m in result.measurements if m.name == name)


def _ids(result: CheckResult) -> set[str]:
    return {f.id for f in result.findings}


def test_a_table_without_primary_key_and_a_bare_foreign_key_fail(tmp_path: Path, database: str) -> None:
    _ddl(database, BAD)
    result = _run(tmp_path, database)
    assert result.status is Status.FAIL, result.reasons
    assert _ids(result) == {"no-primary-key:loose", "foreign-key-unindexed:child.child_parent_id_fkey",
                            "foreign-key-action:child.child_parent_id_fkey"}
    assert any("parent_id" in f.title for f in result.findings)


def test_keys_with_a_policy_and_an_index_pass(tmp_path: Path, database: str) -> None:
    _ddl(database, GOOD)
    result = _run(tmp_path, database)
    assert result.status is Status.PASS, result.reasons
    assert _measured(result, "tables judged") == 2


def test_rules_can_be_switched_off_and_tables_ignored(tmp_path: Path, database: str) -> None:
    _ddl(database, BAD)
    result = _run(tmp_path, database, "    ignore_tables: [loose]\n    require_foreign_key_index: false\n"
                                      "    require_foreign_key_actions: false\n")
    assert result.status is Status.PASS, result.reasons


def test_an_empty_schema_proves_nothing(tmp_path: Path, database: str) -> None:
    result = _run(tmp_path, database)
    assert result.status is Status.ERROR and "no table" in result.summary


def test_a_database_that_does_not_answer_is_an_error(tmp_path: Path) -> None:
    result = _run(tmp_path, "postgresql://nobody:secret-pw@127.0.0.1:9/none?connect_timeout=2")
    assert result.status is Status.ERROR
    assert "catalog cannot be read" in " ".join(result.reasons)
    assert "secret-pw" not in (tmp_path / "reports" / "results" / "schema.json").read_text()


def test_without_a_database_the_check_says_how_to_get_one(tmp_path: Path) -> None:
    config = config_from(tmp_path, f"version: 1\nchecks:\n{others_off('schema')}", READINESS_DATABASE_URL="")
    result = run_check("schema", config, tmp_path / "reports", REPO)
    assert result.status is Status.ERROR and "READINESS_DATABASE_URL" in " ".join(result.reasons)


@pytest.mark.parametrize(("index", "partial", "indexed"), [
    (("parent_id",), False, True), (("parent_id", "id"), False, True), (("id", "parent_id"), False, False),
    (("parent_id",), True, False), (("",), False, False)])
def test_a_foreign_key_needs_a_full_index_led_by_its_columns(index: tuple[str, ...], partial: bool,
                                                             indexed: bool) -> None:
    key = Constraint("fk", "f", "FOREIGN KEY (parent_id) REFERENCES parent(id)", ("parent_id",), "CASCADE")
    assert _indexed(key, [Index("i", "CREATE INDEX ...", index, partial)]) is indexed


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=4, unique=True), st.randoms())
def test_any_order_of_the_key_columns_leading_an_index_counts(columns: list[str], rnd: object) -> None:
    shuffled = columns[:]
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    key = Constraint("fk", "f", "", tuple(columns), "RESTRICT")
    assert _indexed(key, [Index("i", "", (*shuffled, "z"), False)])
    assert not _indexed(key, [Index("i", "", ("z", *shuffled), False)])


def test_catalog_differences_name_the_table_and_the_object() -> None:
    before = {"orders": ["column id bigint NOT NULL", "index CREATE INDEX a ON orders (id)"], "gone": []}
    after = {"orders": ["column id bigint NOT NULL"], "new": []}
    assert differences(before, after) == {"gone": ["the table is missing"], "new": ["the table is new"],
                                          "orders": ["index CREATE INDEX a ON orders (id) is missing"]}
    assert differences(before, before) == {}


def test_connection_variables_follow_libpq() -> None:
    url = with_database("postgresql://u%40x:p%2Fw@127.0.0.1:5433/app", "scratch")
    assert url == "postgresql://u%40x:p%2Fw@127.0.0.1:5433/scratch"
    assert connection_variables(url) == {"DATABASE_URL": url, "PGHOST": "127.0.0.1", "PGPORT": "5433",
                                         "PGUSER": "u@x", "PGPASSWORD": "p/w", "PGDATABASE": "scratch"}


def test_up_without_down_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="up and down"):
        config_from(tmp_path, "version: 1\nchecks:\n  schema:\n    migrations: {up: [migrate, up]}\n")


# --- the migration round trip, with the example's own migration runner on copies of its migrations


def _migrations(tmp_path: Path, **files: str) -> Path:
    folder = tmp_path / "migrations"
    shutil.copytree(EXAMPLE_MIGRATIONS, folder)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def _round_trip(tmp_path: Path, database: str, folder: Path) -> CheckResult:
    _ddl(database, GOOD)  # the catalog judged is this database's; the round trip runs on a scratch one
    return _run(tmp_path, database, f"""    migrations:
      up: {MIGRATE}, "up", "--dir", "{folder}"]
      down: {MIGRATE}, "down", "--dir", "{folder}"]
      workdir: {EXAMPLE.relative_to(REPO)}
      up_files: ["{folder}/*.up.sql"]
""")


def test_the_example_migrations_go_down_and_up_again_identically(tmp_path: Path, database: str) -> None:
    need_example_service()
    result = _round_trip(tmp_path, database, _migrations(tmp_path))
    assert result.status is Status.PASS, result.reasons
    assert _measured(result, "migration round trip") == "identical"
    assert (tmp_path / "reports" / "evidence" / "schema-up-again.log").is_file()


def test_a_migration_without_its_down_step_is_named(tmp_path: Path, database: str) -> None:
    need_example_service()
    result = _round_trip(tmp_path, database, _migrations(tmp_path, **{"0002_notes.up.sql": "SELECT 1;"}))
    assert result.status is Status.FAIL
    missing = [f for f in result.findings if f.id.startswith("migration-down-missing:")]
    assert [f.file.rsplit("/", 1)[-1] for f in missing] == ["0002_notes.up.sql"]
    assert "migration-up-failed:up" in _ids(result)  # the runner refuses an unpaired migration too


def test_a_down_step_that_fails_halfway_is_a_finding(tmp_path: Path, database: str) -> None:
    need_example_service()
    folder = _migrations(tmp_path, **{"0002_notes.up.sql": "CREATE TABLE notes (id bigint PRIMARY KEY);",
                                      "0002_notes.down.sql": "DROP TABLE notes; DROP TABLE no_such_table;"})
    result = _round_trip(tmp_path, database, folder)
    failed = [f for f in result.findings if f.id == "migration-down-failed:down"]
    assert result.status is Status.FAIL and failed and "no_such_table" in failed[0].message


def test_a_down_step_that_leaves_a_table_is_named(tmp_path: Path, database: str) -> None:
    need_example_service()
    folder = _migrations(tmp_path, **{"0002_notes.up.sql": "CREATE TABLE notes (id bigint PRIMARY KEY);",
                                      "0002_notes.down.sql": "SELECT 1;"})
    result = _round_trip(tmp_path, database, folder)
    assert {"down-leaves:notes", "migration-up-again-failed:up"} <= _ids(result)
    assert result.status is Status.FAIL


# --- squawk, the real linter


def test_squawk_fails_a_blocking_index_build_and_reports_style(tmp_path: Path, database: str) -> None:
    if squawk_binary() is None:
        pytest.skip("squawk is not installed here (pip install squawk-cli; nox -s tests installs it)")
    _ddl(database, GOOD)
    sql = tmp_path / "m" / "0003_index.up.sql"
    sql.parent.mkdir()
    sql.write_text("-- an index on a table that already takes traffic\nCREATE INDEX child_id_idx ON child (id);\n"
                   "ALTER TABLE child ADD COLUMN qty integer;\n")
    result = _run(tmp_path, database, f'    squawk: {{files: ["{sql.parent}/*.sql"]}}\n')
    blocking = [f for f in result.findings if f.id.startswith("squawk:require-concurrent-index-creation:")]
    assert result.status is Status.FAIL and blocking and blocking[0].failing
    assert blocking[0].line == 2 and blocking[0].file.endswith("0003_index.up.sql")
    style = [f for f in result.findings if f.id.startswith("squawk:prefer-bigint-over-int:")]
    assert style and not style[0].failing
    assert result.tool.name == "squawk"


def test_squawk_on_the_example_migrations_finds_nothing_blocking(tmp_path: Path, database: str) -> None:
    if squawk_binary() is None:
        pytest.skip("squawk is not installed here (pip install squawk-cli; nox -s tests installs it)")
    _ddl(database, GOOD)
    result = _run(tmp_path, database, f'    squawk: {{files: ["{EXAMPLE_MIGRATIONS}/*.up.sql"], '
                                      'assume_in_transaction: true}\n')
    assert result.status is Status.PASS, result.reasons


@pytest.mark.parametrize(("report", "problem"), [
    ("", "is empty"), ('[{"file": "a.sql", "line": "NaN"', "not valid JSON"),
    ('[{"file": "a.sql", "line": -1, "level": "Warning", "rule_name": "r", "message": "m"}]', "line"),
    ('[{"file": "a.sql", "line": 0, "level": "Fatal", "rule_name": "r", "message": "m"}]', "level"),
    ('{"not": "a list"}', "not a list")])
def test_a_damaged_squawk_report_is_refused(tmp_path: Path, report: str, problem: str) -> None:
    path = tmp_path / "squawk.json"
    path.write_text(report)
    with pytest.raises(ParseError, match=problem):
        read_report(path, tmp_path)


def test_a_squawk_pattern_that_matches_nothing_is_an_error(tmp_path: Path, database: str) -> None:
    _ddl(database, GOOD)
    result = _run(tmp_path, database, '    squawk: {files: ["no/such/*.sql"]}\n')
    assert result.status is Status.ERROR and "matches no file" in " ".join(result.reasons)


def test_a_column_a_critical_query_searches_must_lead_an_index(tmp_path: Path, database: str) -> None:
    _ddl(database, GOOD + "CREATE TABLE notes (id bigint PRIMARY KEY, author text, body text);"
                          "CREATE INDEX notes_body_author_idx ON notes (body, author);")
    queries = tmp_path / "q"
    queries.mkdir()
    (queries / "by_author.sql").write_text("SELECT n.id FROM notes n JOIN child c ON c.id = n.id "
                                           "WHERE n.author = :author AND c.parent_id = :parent")
    result = _run(tmp_path, database, f'    queries: ["{queries}/*.sql"]\n')
    assert result.status is Status.FAIL
    assert _ids(result) == {"unindexed-column:notes.author"}  # child.parent_id and both ids lead an index
    (queries / "bad.sql").write_text("DELETE FROM notes")
    assert _run(tmp_path / "again", database, f'    queries: ["{queries}/*.sql"]\n').status is Status.ERROR


def test_what_the_spec_requires_and_bounds_the_table_enforces(tmp_path: Path, database: str) -> None:
    _ddl(database, GOOD + "CREATE TABLE notes (id bigint PRIMARY KEY, body text, stars integer, tag text NOT NULL "
                          "CHECK (char_length(tag) < 20));")
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {},
                                "components": {"schemas": {"NoteIn": {
                                    "required": ["body", "tag"], "properties": {
                                        "body": {"type": "string"}, "stars": {"type": "integer", "maximum": 5},
                                        "tag": {"type": "string", "maxLength": 20}, "lines": {"type": "array"}}}}}}))
    extra = f'    spec: "{spec}"\n    spec_tables: {{NoteIn: notes}}\n'
    result = _run(tmp_path, database, extra)
    assert _ids(result) == {"nullable-required:notes.body", "unchecked-bound:notes.stars"}
    missing = _run(tmp_path / "again", database, f'    spec: "{spec}"\n    spec_tables: {{Nope: notes}}\n')
    assert missing.status is Status.ERROR and "Nope" in " ".join(missing.reasons)


def test_a_migration_command_stopped_by_a_signal_is_an_error_not_a_finding(tmp_path: Path, database: str) -> None:
    _ddl(database, GOOD)
    interrupted = '["{python}", "-c", "import os, signal; os.kill(os.getpid(), signal.SIGINT)"]'
    result = _run(tmp_path, database, f"    migrations: {{up: {interrupted}, down: {interrupted}}}\n")
    assert result.status is Status.ERROR and "interrupted" in " ".join(result.reasons), result.reasons
    assert not result.findings
