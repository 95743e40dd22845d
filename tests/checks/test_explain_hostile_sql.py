"""Hostile SQL against a real PostgreSQL: nothing the explain check runs may change the database.

Every case runs the whole check (``run_check``) as the superuser the test server gives,
the worst case: before and after, the database is snapshotted (rows and an md5 of a data
table, roles, tables and sequences, every sequence's value, advisory locks, large objects,
prepared transactions, per-role settings) and must not have changed; a refused case must
not pass. The two exploit forms of issue 12 come first: before the fix they passed and
deleted rows, created a table and a SUPERUSER role.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from pipeline.model import CheckResult, Status
from pipeline.runner import run_check
from tests.conftest import config_from

ROWS = 1000

# The two forms the audit of issue 12 used; both passed and changed the database before the fix.
EXPLOIT_ESCAPE_STRING = "SELECT E'\\''; COMMIT; DELETE FROM victims WHERE id <= 10; SELECT '1'"
EXPLOIT_DOLLAR_IDENTIFIER = ("SELECT 1 AS x$$; COMMIT; CREATE TABLE IF NOT EXISTS pwned(); DROP ROLE IF EXISTS evil; "
                             "CREATE ROLE evil SUPERUSER; SELECT 1 AS y$$")

REFUSED: dict[str, str] = {
    # issue 12
    "exploit-escape-string": EXPLOIT_ESCAPE_STRING,
    "exploit-dollar-identifier": EXPLOIT_DOLLAR_IDENTIFIER,
    # string escapes and quoting
    "escape-backslash-quote": "SELECT E'\\\\'; COMMIT; DELETE FROM victims; SELECT E'\\\\'",
    "escape-octal-quote": "SELECT E'\\047'; COMMIT; DELETE FROM victims; --'",
    "unicode-escape-quote": "SELECT U&'\\0027'; COMMIT; DELETE FROM victims; SELECT ''",
    "doubled-quote": "SELECT 'it''s'; COMMIT; DELETE FROM victims; SELECT ''''",
    "semicolon-in-identifier": 'SELECT 1 AS ";"; COMMIT; DELETE FROM victims; SELECT 1 AS ";"',
    "semicolon-in-string-then-second": "SELECT ';' AS a; COMMIT; DELETE FROM victims",
    # dollar quoting
    "dollar-empty-tag": "SELECT $$;$$; COMMIT; DELETE FROM victims; SELECT $$x$$",
    "dollar-named-tag": "SELECT $a$ $$ ; $a$; COMMIT; CREATE TABLE pwned(); SELECT $a$x$a$",
    "dollar-in-identifier-role": "SELECT 1 AS a$$b; COMMIT; CREATE ROLE evil SUPERUSER; SELECT 2 AS c$$d",
    "dollar-tag-lookalike": "SELECT 1 AS $x; COMMIT; DELETE FROM victims; SELECT $x$",
    # comments
    "nested-comment-closes-late":
        "/* /* */ SELECT 1; COMMIT; DELETE FROM victims; /* */ */ SELECT 1; DELETE FROM victims",
    "comment-hides-nothing": "SELECT 1 /* ; */; COMMIT; DELETE FROM victims -- ;",
    "line-comment-then-statement": "SELECT 1 -- ;\n; DELETE FROM victims",
    "only-comments": "/* SELECT 1 /* nested */ still a comment */ -- and this\n",
    # transaction control
    "commit": "COMMIT", "rollback": "ROLLBACK", "begin": "BEGIN", "start-read-write": "START TRANSACTION READ WRITE",
    "savepoint": "SAVEPOINT s", "release": "RELEASE SAVEPOINT s", "prepare-transaction": "PREPARE TRANSACTION 'x'",
    "commit-prepared": "COMMIT PREPARED 'x'", "end": "END", "abort": "ABORT",
    "set-transaction-read-write": "SET TRANSACTION READ WRITE",
    # COPY
    "copy-to-stdout": "COPY victims TO STDOUT", "copy-from-program": "COPY victims FROM PROGRAM 'true'",
    "copy-to-file": "COPY (SELECT 1) TO '/tmp/readiness-pwned'",
    # roles, settings, session
    "set-role": "SET ROLE readiness", "set-session-authorization": "SET SESSION AUTHORIZATION DEFAULT",
    "reset-role": "RESET ROLE", "reset-all": "RESET ALL",
    "set-local-read-write": "SET LOCAL transaction_read_only = off",
    "set-default-read-write": "SET default_transaction_read_only = off",
    "alter-role-set": "ALTER ROLE readiness SET statement_timeout = 0",
    # code blocks and procedures
    "do-delete": "DO $$ BEGIN DELETE FROM victims; END $$",
    "do-execute-role": "DO $x$ BEGIN EXECUTE 'CREATE ROLE evil SUPERUSER'; END $x$",
    "call": "CALL pg_catalog.pg_sleep(0)",
    # DDL and other utilities
    "create-role-superuser": "CREATE ROLE evil SUPERUSER", "create-table": "CREATE TABLE pwned (id int)",
    "create-table-as": "CREATE TABLE pwned AS SELECT 1", "create-sequence": "CREATE SEQUENCE pwned_seq",
    "drop-table": "DROP TABLE victims", "truncate": "TRUNCATE victims", "alter-table": "ALTER TABLE victims ADD x int",
    "grant": "GRANT ALL ON victims TO PUBLIC", "vacuum": "VACUUM victims", "lock": "LOCK victims",
    "notify": "NOTIFY chan", "listen": "LISTEN chan", "prepare": "PREPARE p AS DELETE FROM victims",
    "execute": "EXECUTE p", "declare-cursor": "DECLARE c CURSOR FOR SELECT 1", "checkpoint": "CHECKPOINT",
    "nested-explain": "EXPLAIN ANALYZE DELETE FROM victims", "analyze": "ANALYZE victims",
    "create-function": "CREATE FUNCTION pwned() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    # SELECT INTO and locking
    "select-into": "SELECT * INTO pwned FROM victims", "select-into-temp": "SELECT 1 INTO TEMP pwned",
    "for-update": "SELECT * FROM victims FOR UPDATE", "for-share-in-subquery":
        "SELECT * FROM (SELECT id FROM victims FOR SHARE) s",
    # data-modifying statements and CTEs
    "delete": "DELETE FROM victims", "update": "UPDATE victims SET payload = 'x'",
    "insert": "INSERT INTO victims VALUES (100000, 'x')",
    "merge": "MERGE INTO victims v USING (SELECT 1 AS id) s ON v.id = s.id WHEN MATCHED THEN DELETE",
    "cte-delete": "WITH d AS (DELETE FROM victims RETURNING *) SELECT count(*) FROM d",
    "cte-update": "WITH u AS (UPDATE victims SET payload = 'x' RETURNING 1) SELECT count(*) FROM u",
    "cte-insert": "WITH i AS (INSERT INTO victims VALUES (100000, 'x') RETURNING 1) SELECT 1",
    "cte-nested": "WITH a AS (WITH d AS (DELETE FROM victims RETURNING id) SELECT id FROM d) SELECT * FROM a",
    # side-effect functions (and ones that run SQL text)
    "terminate-backend": "SELECT pg_terminate_backend(pg_backend_pid())",
    "cancel-backend": "SELECT pg_cancel_backend(pg_backend_pid())",
    "setval": "SELECT setval('victims_seq', 999)", "nextval": "SELECT nextval('victims_seq')",
    "nextval-qualified": "SELECT pg_catalog.nextval('victims_seq')",
    "nextval-mixed-case": "SELECT NextVal('victims_seq')",
    "nextval-quoted-upper": 'SELECT pg_catalog."NEXTVAL"(\'victims_seq\')',
    "nextval-unicode-name": "SELECT U&\"\\006Eextval\"('victims_seq')",
    "nextval-in-from": "SELECT * FROM nextval('victims_seq')",
    "setval-in-cte": "WITH s AS (SELECT setval('victims_seq', 5)) SELECT * FROM s",
    "set-config": "SELECT set_config('default_transaction_read_only', 'off', false)",
    "advisory-lock": "SELECT pg_advisory_lock(42)", "advisory-lock-shared": "SELECT pg_advisory_lock_shared(42)",
    "advisory-try": "SELECT pg_try_advisory_lock(42)", "advisory-xact": "SELECT pg_advisory_xact_lock(42)",
    "advisory-in-where": "SELECT 1 WHERE pg_advisory_lock(1, 2) IS NOT NULL",
    "advisory-unlock-all": "SELECT pg_advisory_unlock_all()",
    "lo-create": "SELECT lo_create(0)", "lo-import": "SELECT lo_import('/etc/hostname')",
    "lo-unlink": "SELECT lo_unlink(1)", "lowrite": "SELECT lowrite(0, 'x')",
    "dblink": "SELECT dblink_exec('dbname=app', 'DELETE FROM victims')",
    "pg-notify": "SELECT pg_notify('chan', 'x')", "reload-conf": "SELECT pg_reload_conf()",
    "rotate-logfile": "SELECT pg_rotate_logfile()", "switch-wal": "SELECT pg_switch_wal()",
    "query-to-xml": "SELECT query_to_xml('DELETE FROM victims RETURNING 1', true, true, '')",
    "query-to-xml-and-schema": "SELECT query_to_xml_and_xmlschema('SELECT 1', true, true, '')",
    "cursor-to-xml": "SELECT cursor_to_xml('c', 1, true, true, '')",
    "ts-stat": "SELECT * FROM ts_stat('SELECT to_tsvector(payload) FROM victims')",
    "stat-reset": "SELECT pg_stat_reset()",
    # several statements, parameters as $n, NUL
    "two-selects": "SELECT 1; SELECT 2", "select-then-drop": "SELECT 1; DROP TABLE victims",
    "dollar-param": "SELECT $1", "nul-cut": "SELECT 1\x00; DELETE FROM victims",
    "percent-inside-string": "SELECT '%(x)s' AS a, %(x)s AS b",
}
# Refused whatever `writes` says: they are not one DML statement.
REFUSED_EVEN_WITH_WRITES = [key for key in REFUSED if not key.startswith((
    "delete", "update", "insert", "merge", "cte-", "for-", "terminate", "cancel", "setval", "nextval", "set-config",
    "advisory", "lo-", "lowrite", "dblink", "pg-notify", "reload", "rotate", "switch", "query-to", "cursor-to",
    "ts-stat", "stat-reset"))]


@pytest.fixture(scope="module")
def victims_db(postgres_dsn: str) -> Iterator[str]:
    """A data table with an owned sequence, in the test server."""
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS victims")
        conn.execute("DROP SEQUENCE IF EXISTS victims_seq")
        conn.execute("CREATE SEQUENCE victims_seq")
        conn.execute("CREATE TABLE victims (id bigint PRIMARY KEY DEFAULT nextval('victims_seq'), payload text)")
        conn.execute("INSERT INTO victims SELECT g, md5(g::text) FROM generate_series(1, %s) g", (ROWS,))
        conn.execute("SELECT setval('victims_seq', %s)", (ROWS,))
        conn.execute("ANALYZE victims")
    yield postgres_dsn
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS victims")
        conn.execute("DROP SEQUENCE IF EXISTS victims_seq")


SNAPSHOT_QUERIES = {
    "victims": "SELECT count(*), md5(string_agg(id::text || ':' || coalesce(payload, ''), ',' ORDER BY id)) "
               "FROM victims",
    "roles": "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls "
             "FROM pg_roles ORDER BY rolname",
    "relations": "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                 "WHERE c.relkind IN ('r', 'S', 'p', 'v', 'm', 'f') AND n.nspname <> 'pg_catalog' ORDER BY 1, 2",
    "sequences": "SELECT schemaname, sequencename, last_value FROM pg_sequences ORDER BY 1, 2",
    "advisory_locks": "SELECT classid, objid, objsubid, mode, granted FROM pg_locks WHERE locktype = 'advisory' "
                      "ORDER BY 1, 2, 3",
    "large_objects": "SELECT count(*) FROM pg_largeobject_metadata",
    "prepared_transactions": "SELECT gid FROM pg_prepared_xacts ORDER BY 1",
    "role_settings": "SELECT setdatabase, setrole, setconfig FROM pg_db_role_setting ORDER BY 1, 2",
    "functions": "SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace",
}


def snapshot(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    """What a hostile statement could change, read as the superuser."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {name: conn.execute(query).fetchall() for name, query in SNAPSHOT_QUERIES.items()}


def explain(tmp_path: Path, dsn: str, sql: str, writes: bool, **query: Any) -> CheckResult:
    """The whole explain check on one query file holding ``sql``."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "q.sql").write_text(sql, encoding="utf-8")
    settings = {"dsn": dsn, "runs": 1, "statement_timeout_ms": 5000,
                "queries": [{"name": "q", "sql_file": "q.sql", "writes": writes, "max_seq_scan_rows": 10**9, **query}]}
    config = config_from(tmp_path, yaml.safe_dump({"version": 1, "checks": {"explain": settings}}))
    return run_check("explain", config, tmp_path / "reports", tmp_path)


def _assert_refused_without_change(tmp_path: Path, dsn: str, sql: str, writes: bool) -> CheckResult:
    before = snapshot(dsn)
    result = explain(tmp_path, dsn, sql, writes)
    after = snapshot(dsn)
    assert after == before, {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    assert result.status is not Status.PASS and result.status is Status.ERROR, result.summary
    assert "refused before it reached the server" in result.reasons[0], result.reasons
    return result


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_hostile_sql_without_writes_changes_nothing_and_does_not_pass(tmp_path: Path, victims_db: str,
                                                                      case: str) -> None:
    _assert_refused_without_change(tmp_path, victims_db, REFUSED[case], writes=False)


@pytest.mark.parametrize("case", sorted(REFUSED_EVEN_WITH_WRITES))
def test_hostile_sql_with_writes_changes_nothing_and_does_not_pass(tmp_path: Path, victims_db: str,
                                                                   case: str) -> None:
    _assert_refused_without_change(tmp_path, victims_db, REFUSED[case], writes=True)


def test_the_issue_12_exploits_name_the_reason(tmp_path: Path, victims_db: str) -> None:
    for index, sql in enumerate((EXPLOIT_ESCAPE_STRING, EXPLOIT_DOLLAR_IDENTIFIER)):
        result = _assert_refused_without_change(tmp_path / str(index), victims_db, sql, writes=False)
        assert "more than one statement (" in result.reasons[0]
        assert result.summary == "1 of 1 query run(s) could not be explained."
    assert not [row for row in snapshot(victims_db)["roles"] if row[0] == "evil"]


@pytest.mark.parametrize("sql", [
    "WITH d AS (DELETE FROM victims RETURNING *) SELECT count(*) FROM d",
    "UPDATE victims SET payload = 'changed' WHERE id <= 500",
    "INSERT INTO victims (payload) SELECT 'new' FROM generate_series(1, 50)",
    "MERGE INTO victims v USING (SELECT 1 AS id) s ON v.id = s.id WHEN MATCHED THEN DELETE",
    "SELECT * FROM victims WHERE id < 10 FOR UPDATE",
])
def test_writes_true_is_explained_and_rolled_back(tmp_path: Path, victims_db: str, sql: str) -> None:
    # Rows, roles and tables are rolled back; a sequence an INSERT draws its ids from is not
    # transactional in PostgreSQL (the README says so), so only the INSERT may move it.
    before = snapshot(victims_db)
    result = explain(tmp_path, victims_db, sql, writes=True)
    after = snapshot(victims_db)
    assert result.status is Status.PASS, result.reasons
    assert {k: v for k, v in after.items() if k != "sequences"} == {k: v for k, v in before.items()
                                                                    if k != "sequences"}
    if not sql.startswith("INSERT"):
        assert after["sequences"] == before["sequences"]


@pytest.mark.parametrize("sql", [
    # What the PostgreSQL lexer reads as one harmless SELECT (a regex guard saw several statements).
    "SELECT $tag$ ; $tag$ AS a, $$ ; DELETE FROM victims; $$ AS b",
    "/* /* */ ; COMMIT; DELETE FROM victims; /* */ */ SELECT 1",
    "SELECT 'a'';DELETE FROM victims;''' AS a",
    'SELECT 1 AS "a"";DELETE FROM victims;"""',
    "SELECT E'\\';DELETE FROM victims;' AS a",
])
def test_text_that_only_looks_like_several_statements_runs_as_one_select(tmp_path: Path, victims_db: str,
                                                                         sql: str) -> None:
    before = snapshot(victims_db)
    result = explain(tmp_path, victims_db, sql, writes=False)
    assert snapshot(victims_db) == before
    assert result.status is Status.PASS, result.reasons


def test_a_bound_parameter_is_data_never_sql(tmp_path: Path, victims_db: str) -> None:
    before = snapshot(victims_db)
    result = explain(tmp_path, victims_db, "SELECT count(*) FROM victims WHERE payload = :p", writes=True,
                     params={"p": "x'; COMMIT; DELETE FROM victims; --"})
    assert snapshot(victims_db) == before
    assert result.status is Status.PASS, result.reasons


@pytest.mark.parametrize("sql", [
    # With standard_conforming_strings off the server would read '\'' as an escaped quote:
    # the text below is one SELECT for the guard and three statements for such a server.
    "SELECT '\\' , ' ; COMMIT; DELETE FROM victims; --' AS a",
    "SELECT '\\' AS a, ' ; COMMIT; CREATE ROLE evil SUPERUSER; --' AS b",
])
def test_standard_conforming_strings_off_on_the_server_changes_nothing(tmp_path: Path, victims_db: str,
                                                                       sql: str) -> None:
    dsn = victims_db + "?options=-c%20standard_conforming_strings%3Doff"
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SHOW standard_conforming_strings").fetchone() == ("off",)
    before = snapshot(victims_db)
    result = explain(tmp_path, dsn, sql, writes=False)
    assert snapshot(victims_db) == before
    # The check forces the setting on: the server reads the text as the guard did, one SELECT.
    assert result.status is Status.PASS, result.reasons
