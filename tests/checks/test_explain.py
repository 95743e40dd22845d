"""The explain check against a real PostgreSQL the tests start, and its SQL guard."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.checks.explain.sql import UnsafeStatement, guard
from pipeline.model import CheckResult, Status
from pipeline.runner import run_check
from pipeline.views import Plan
from tests.conftest import config_from

ROWS = 200_000


@pytest.fixture(scope="module")
def items_db(postgres_dsn: str) -> Iterator[str]:
    """A table of 200k rows and no index but its primary key."""
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS items")
        conn.execute("CREATE TABLE items (id bigint PRIMARY KEY, category int NOT NULL, payload text NOT NULL)")
        conn.execute("INSERT INTO items SELECT g, g %% 1000, md5(g::text) FROM generate_series(1, %s) g", (ROWS,))
        conn.execute("ANALYZE items")
    yield postgres_dsn


def _checksum(dsn: str) -> tuple[Any, ...]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*), md5(string_agg(id::text || payload, ',' ORDER BY id)) FROM items")
        return tuple(row.fetchone() or ())


def _plans(result: CheckResult) -> dict[str, Plan]:
    """The report's plan per query run, by key."""
    return {view.title: view for view in result.views if isinstance(view, Plan)}


def _explain(tmp_path: Path, dsn: str, sql: str, **query: Any) -> CheckResult:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "q.sql").write_text(sql)
    settings = {"dsn": dsn, "runs": query.pop("runs", 1), "statement_timeout_ms": query.pop("timeout_ms", 5000),
                **query.pop("check_settings", {}), "queries": [{"name": "q", "sql_file": "q.sql", **query}]}
    config = config_from(tmp_path, yaml.safe_dump({"version": 1, "checks": {"explain": settings}}))
    return run_check("explain", config, tmp_path / "reports", tmp_path)


def test_inline_sql_is_explained_as_the_statement_itself(tmp_path: Path, items_db: str) -> None:
    settings = {"dsn": items_db, "runs": 1, "queries": [
        {"name": "q", "sql": "SELECT id FROM items WHERE category = %(category)s", "params": {"category": 7}}]}
    config = config_from(tmp_path, yaml.safe_dump({"version": 1, "checks": {"explain": settings}}))
    result = run_check("explain", config, tmp_path / "reports", tmp_path)
    assert result.status is Status.FAIL and [f.id for f in result.findings] == ["seq-scan:q:items"], result.reasons
    assert result.findings[0].file is None or result.findings[0].file == ""  # no file: the statement is inline


def test_seq_scan_without_index_fails_and_index_fixes_it(tmp_path: Path, items_db: str) -> None:
    sql = "SELECT id, payload FROM items WHERE category = %(category)s"
    before = _explain(tmp_path / "before", items_db, sql, params={"category": 7})
    assert before.status is Status.FAIL
    seq = next(f for f in before.findings if f.id == "seq-scan:q:items")
    assert seq.aliases == ("q:seq-scan:items",) and seq.file == "q.sql"  # the id before issue 13; the SQL file
    assert seq.details["relation"] == "items" and seq.details["rows_scanned"] == ROWS
    assert "Seq Scan on items scanned 200,000 rows (limit 10,000)" in seq.title
    with psycopg.connect(items_db, autocommit=True) as conn:
        conn.execute("CREATE INDEX items_category_idx ON items (category)")
    try:
        after = _explain(tmp_path / "after", items_db, sql, params={"category": 7})
        assert after.status is Status.PASS, after.reasons
        assert any("items_category_idx" in line for line in _plans(after)["q"].shape)
    finally:
        with psycopg.connect(items_db, autocommit=True) as conn:
            conn.execute("DROP INDEX items_category_idx")


def test_an_empty_dsn_takes_the_database_from_the_environment(tmp_path: Path, items_db: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("READINESS_DATABASE_URL", items_db)
    result = _explain(tmp_path, "", "SELECT id FROM items WHERE id = %(id)s", params={"id": 1})
    assert result.status is Status.PASS, result.reasons
    assert _plans(result)["q"].nodes[0].label == "Index Only Scan using items_pkey on items"


def test_write_query_is_explained_and_rolled_back(tmp_path: Path, items_db: str) -> None:
    before = _checksum(items_db)
    result = _explain(tmp_path, items_db, "DELETE FROM items WHERE id <= %(n)s", params={"n": 5000},
                      writes=True, runs=3, max_seq_scan_rows=ROWS)
    assert result.status is Status.PASS, result.reasons
    assert _checksum(items_db) == before == (ROWS, before[1])


def test_write_query_not_marked_writes_is_refused(tmp_path: Path, items_db: str) -> None:
    # Before issue 12 this DELETE reached the server and only READ ONLY stopped it; the guard now
    # refuses it first (the READ ONLY layer is tested on its own in test_explain_session.py).
    before = _checksum(items_db)
    result = _explain(tmp_path, items_db, "DELETE FROM items WHERE id <= 10")
    assert result.status is Status.ERROR
    assert "a DELETE statement changes data; mark the query `writes: true`" in result.reasons[0]
    assert _checksum(items_db) == before


@pytest.mark.parametrize(("sql", "words"), [
    ("DROP TABLE items", "a DROP statement"),
    ("SELECT 1; DELETE FROM items", "more than one statement"),
    ("CREATE INDEX x ON items (payload)", "a CREATE statement"),
    ("COMMIT", "a COMMIT statement"),
    ("  -- only a comment\n", "no SQL statement"),
])
def test_unsafe_sql_is_refused_before_the_server(tmp_path: Path, items_db: str, sql: str, words: str) -> None:
    before = _checksum(items_db)
    result = _explain(tmp_path, items_db, sql)
    assert result.status is Status.ERROR
    assert "refused before it reached the server" in result.reasons[0] and words in result.reasons[0]
    assert _checksum(items_db) == before


def test_statement_timeout_is_an_error(tmp_path: Path, items_db: str) -> None:
    result = _explain(tmp_path, items_db, "SELECT pg_sleep(2)", timeout_ms=200)
    assert result.status is Status.ERROR
    assert "ran past the statement timeout (200 ms)" in result.reasons[0]


def test_bad_sql_names_the_query_and_the_server_message(tmp_path: Path, items_db: str) -> None:
    result = _explain(tmp_path, items_db, "SELECT no_such_column FROM items")
    assert result.status is Status.ERROR
    assert result.reasons[0].startswith("Query q: the server refused it:")
    assert 'column "no_such_column" does not exist' in result.reasons[0]


def test_missing_parameter_is_named(tmp_path: Path, items_db: str) -> None:
    result = _explain(tmp_path, items_db, "SELECT * FROM items WHERE id = :id AND category = :category",
                      params={"id": 1})
    assert result.status is Status.ERROR and "no value for parameter(s) category" in result.reasons[0]


def test_unreachable_database_is_an_error_without_the_password(tmp_path: Path) -> None:
    dsn = "postgresql://app:S3cretPassw0rd@127.0.0.1:1/app"
    result = _explain(tmp_path, dsn, "SELECT 1")
    assert result.status is Status.ERROR and "cannot connect to the database" in result.summary
    written = (tmp_path / "reports" / "results" / "explain.json").read_text()
    assert "S3cretPassw0rd" not in written and "S3cretPassw0rd" not in json.dumps(result.to_dict())


def test_tiny_work_mem_spills_the_sort_to_disk(tmp_path: Path, items_db: str) -> None:
    dsn = items_db + "?options=-c%20work_mem%3D64kB"
    result = _explain(tmp_path, dsn, "SELECT * FROM items ORDER BY payload", max_seq_scan_rows=ROWS, max_ms=60_000)
    assert result.status is Status.FAIL
    spill = next(f for f in result.findings if f.id.startswith("spill:q:"))
    assert "sort spilled to disk (external" in spill.title


def test_a_lost_index_since_the_previous_run_is_a_regression_when_asked_for(tmp_path: Path, items_db: str) -> None:
    sql = "SELECT id FROM items WHERE category = %(category)s"
    previous_run = {"compare_previous_run": True}
    with psycopg.connect(items_db, autocommit=True) as conn:
        conn.execute("CREATE INDEX items_category_idx ON items (category)")
    try:
        first = _explain(tmp_path, items_db, sql, params={"category": 3}, max_seq_scan_rows=ROWS,
                         check_settings=previous_run)
        assert first.status is Status.PASS
    finally:
        with psycopg.connect(items_db, autocommit=True) as conn:
            conn.execute("DROP INDEX items_category_idx")
    second = _explain(tmp_path, items_db, sql, params={"category": 3}, max_seq_scan_rows=ROWS,
                      check_settings=previous_run)
    changed = next(f for f in second.findings if f.id == "plan-changed:q")
    assert second.status is Status.FAIL and changed.failing
    assert "index items_category_idx is no longer used" in changed.title
    assert any("items_category_idx" in line for line in changed.details["previous"])
    assert any("Seq Scan on items" in line for line in changed.details["current"])
    # The regressed plan does not become the reference: the next run fails the same way.
    third = _explain(tmp_path, items_db, sql, params={"category": 3}, max_seq_scan_rows=ROWS,
                     check_settings=previous_run)
    assert third.status is Status.FAIL and any(f.id == "plan-changed:q" and f.failing for f in third.findings)
    # Without the setting, the previous run is no reference: the same plan passes on its own merits.
    alone = _explain(tmp_path, items_db, sql, params={"category": 3}, max_seq_scan_rows=ROWS)
    assert alone.status is Status.PASS and not any(f.id == "plan-changed:q" for f in alone.findings)


def test_the_index_that_fixes_a_seq_scan_passes_on_the_first_run_after_the_fix(tmp_path: Path, items_db: str) -> None:
    sql = "SELECT id FROM items WHERE category = %(category)s"
    previous_run = {"compare_previous_run": True}
    broken = _explain(tmp_path, items_db, sql, params={"category": 3}, check_settings=previous_run)
    assert broken.status is Status.FAIL and any(f.id == "seq-scan:q:items" for f in broken.findings)
    with psycopg.connect(items_db, autocommit=True) as conn:
        conn.execute("CREATE INDEX items_category_idx ON items (category)")
    try:
        fixed = _explain(tmp_path, items_db, sql, params={"category": 3}, check_settings=previous_run)
    finally:
        with psycopg.connect(items_db, autocommit=True) as conn:
            conn.execute("DROP INDEX items_category_idx")
    assert fixed.status is Status.PASS, fixed.reasons
    note = next(f for f in fixed.findings if f.id == "plan-changed:q")
    assert not note.failing and note.severity == "info"
    assert "index items_category_idx is now used" in note.title and "scan of items is gone" in note.title


@pytest.mark.parametrize(("baseline_shape", "status"), [
    (["Index Only Scan using items_pkey on items"], Status.PASS),
    (["Seq Scan on items"], Status.PASS),  # an improvement: reported, passes
    (["Index Scan using items_other_idx on items"], Status.FAIL),  # an index the baseline used is lost
])
def test_a_baseline_file_is_compared_too(tmp_path: Path, items_db: str, baseline_shape: list[str],
                                         status: Status) -> None:
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"schema": "readiness.explain-plans/1",
                                    "queries": {"q": {"shape": baseline_shape}}}))
    (tmp_path / "q.sql").write_text("SELECT id FROM items WHERE id = %(id)s")
    config = config_from(tmp_path, yaml.safe_dump({"version": 1, "checks": {"explain": {
        "dsn": items_db, "baseline": "baseline.json",
        "queries": [{"name": "q", "sql_file": "q.sql", "params": {"id": 5}}]}}}))
    result = run_check("explain", config, tmp_path / "reports", tmp_path)
    assert result.status is status, result.reasons


def test_several_parameter_sets_are_explained_separately(tmp_path: Path, items_db: str) -> None:
    result = _explain(tmp_path, items_db, "SELECT id FROM items WHERE id < %(n)s",
                      param_sets={"small": {"n": 10}, "large": {"n": 150_000}}, max_seq_scan_rows=100_000)
    keys = list(_plans(result))
    assert sorted(keys) == ["q[large]", "q[small]"]
    assert [f.location for f in result.findings if f.failing] == ["q[large]"]


def test_colon_parameters_become_server_parameters() -> None:
    statement = guard("SELECT a::int FROM t WHERE b = :b AND c LIKE 'x%:y' AND d = :d;", writes=False)
    assert statement.text == "SELECT a::int FROM t WHERE b = $1 AND c LIKE 'x%:y' AND d = $2"
    assert statement.names == ("b", "d")
    with pytest.raises(UnsafeStatement, match="mixes"):
        guard("SELECT :a, %(b)s", writes=False)


_literal = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\0"), max_size=30)


@settings(max_examples=200, deadline=None)
@given(text=_literal)
def test_semicolons_inside_strings_and_comments_are_not_statement_ends(text: str) -> None:
    quoted = "'" + text.replace("'", "''") + "'"
    comment = text.replace("*", "").replace("/", "")  # no way to open or close a comment
    statement = guard(f"SELECT {quoted} /* ; {comment} */ -- ;\n", writes=False)
    assert statement.text.startswith("SELECT") and statement.names == ()


@settings(max_examples=100, deadline=None)
@given(first=st.sampled_from(["SELECT 1", "WITH x AS (SELECT 1) SELECT * FROM x", "VALUES (1)"]),
       second=st.sampled_from(["DROP TABLE t", "DELETE FROM t", "SELECT 2", "COMMIT", "SET role x"]))
def test_a_second_statement_is_always_refused(first: str, second: str) -> None:
    with pytest.raises(UnsafeStatement, match="more than one statement"):
        guard(f"{first}; {second}", writes=True)


def test_shared_blocks_read_above_the_limit_is_a_finding() -> None:
    from pipeline.checks.explain import ExplainSettings, ParsedQuery, QueryRun, evaluate_explain
    from pipeline.checks.explain.plan import plan_shape, read_plan, walk

    output = [{"Plan": {"Node Type": "Index Scan", "Relation Name": "t", "Index Name": "t_pkey", "Actual Rows": 1,
                        "Actual Loops": 1, "Plan Rows": 1, "Shared Read Blocks": 501, "Shared Hit Blocks": 3},
               "Execution Time": 1.5, "Planning Time": 0.1}]
    plan = read_plan(output, "q")
    for limit, failing in ((500, True), (501, False), (None, False)):
        settings = ExplainSettings.model_validate_json(json.dumps({"defaults": {"max_shared_read_blocks": limit}}))
        result = evaluate_explain((ParsedQuery(QueryRun("q", "q", {}), plan, tuple(walk(plan.root)),
                                               plan_shape(plan.root)),), settings)
        assert (result.status is Status.FAIL) is failing
        assert any(f.id == "buffers:q" for f in result.findings) is failing
