"""The SQL guard: PostgreSQL's lexer finds the placeholders, its parser decides what may run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pglast import ast, parser

from pipeline.checks.explain import explain_query
from pipeline.checks.explain.policy import QueryRun
from pipeline.checks.explain.session import ExplainSession, statement_timeout
from pipeline.checks.explain.sql import (
    EXPLAIN_PREFIX,
    SIDE_EFFECT_FUNCTIONS,
    SIDE_EFFECT_PREFIXES,
    UnsafeStatement,
    guard,
)


@pytest.mark.parametrize(("sql", "text", "names"), [
    ("SELECT * FROM t WHERE a = :a AND b = :b AND c = :a", "SELECT * FROM t WHERE a = $1 AND b = $2 AND c = $1",
     ("a", "b")),
    ("SELECT * FROM t WHERE a=%(a)s AND b<%(b)s", "SELECT * FROM t WHERE a=$1 AND b<$2", ("a", "b")),
    ("SELECT x FROM t LIMIT :limit", "SELECT x FROM t LIMIT $1", ("limit",)),
    ("SELECT x FROM t LIMIT %(limit)s", "SELECT x FROM t LIMIT $1", ("limit",)),
    # Casts, slices and := are not placeholders; neither is anything in a string, identifier or comment.
    ("SELECT a::int, arr[1:n], arr[lo:hi] FROM t", "SELECT a::int, arr[1:n], arr[lo:hi] FROM t", ()),
    ("SELECT ':x', \":y\", $$:z$$ /* :w */ -- :v\n", "SELECT ':x', \":y\", $$:z$$ /* :w */ -- :v", ()),
    ("SELECT E'\\':x', :y", "SELECT E'\\':x', $1", ("y",)),
    # '%' is literal without %(name)s placeholders, and '%%' is one '%' with them (psycopg's rule).
    ("SELECT 7 % 2, 'a%' LIKE 'a%%'", "SELECT 7 % 2, 'a%' LIKE 'a%%'", ()),
    ("SELECT 7 % 2, :x", "SELECT 7 % 2, $1", ("x",)),
    ("SELECT 7 %% 2, 'a%%' , %(x)s", "SELECT 7 % 2, 'a%' , $1", ("x",)),
    ("SELECT 1 WHERE 'x' =%%%(x)s", "SELECT 1 WHERE 'x' =%$1", ("x",)),
    ("/* leading */ SELECT 1 ;  -- trailing\n", "SELECT 1", ()),
])
def test_placeholders_become_server_parameters(sql: str, text: str, names: tuple[str, ...]) -> None:
    statement = guard(sql, writes=False)
    assert (statement.text, statement.names) == (text, names)
    assert statement.explain_text == EXPLAIN_PREFIX + text


@pytest.mark.parametrize(("sql", "words"), [
    ("SELECT %(x)s, 'a%'", "with %(name)s placeholders write '%%'"),
    ("SELECT %(x)sfoo", "parser cannot read it"),  # not a placeholder: a stray %
    ("SELECT :a, %(b)s", "mixes :name and %(name)s"),
    ("SELECT $1", "$n parameters"),
    ("SELECT 'unterminated", "lexer cannot read it: unterminated quoted string"),
    ("SELECT FROM WHERE", "parser cannot read it"),
    ("SELECT '\ud800'", "unpaired surrogates"),
])
def test_unreadable_or_ambiguous_sql_is_refused(sql: str, words: str) -> None:
    with pytest.raises(UnsafeStatement) as caught:
        guard(sql, writes=True)
    assert words in str(caught.value)


@pytest.mark.parametrize("name", sorted(SIDE_EFFECT_FUNCTIONS) + [p + "x" for p in SIDE_EFFECT_PREFIXES])
def test_every_side_effect_function_needs_writes(name: str) -> None:
    for sql in (f"SELECT {name}(1)", f"SELECT * FROM pg_catalog.{name.upper()}(1)",
                f"SELECT 1 WHERE EXISTS (SELECT \"{name}\"(1))"):
        with pytest.raises(UnsafeStatement, match=f"it calls {name}\\(\\)"):
            guard(sql, writes=False)
        assert guard(sql, writes=True).kind == "SELECT"


def test_an_ordinary_function_is_allowed() -> None:
    assert guard("SELECT lower(name), now(), count(*) FROM t GROUP BY 1", writes=False).kind == "SELECT"


_fragments = st.sampled_from([
    "SELECT ", "1", " ", "\n", ";", "'", "''", "E'", "\\", "\\'", "U&'", "$$", "$a$", "a$$", "\"", "/*", "*/",
    "--", ":x", ":y", "::", "%(x)s", "%", "%%", "(", ")", ",", "COMMIT", "DELETE FROM t", "SET ROLE x", "FROM t",
    "WITH d AS (", "DELETE FROM t RETURNING 1", ") ", "INTO z ", "FOR UPDATE", "nextval('s')", "$1", "\x00",
])
_sqlish = st.lists(_fragments, max_size=14).map("".join) | st.text(max_size=60)


@settings(max_examples=500, deadline=None)
@given(sql=_sqlish, writes=st.booleans())
def test_random_text_is_one_allowed_statement_or_a_refusal(sql: str, writes: bool) -> None:
    try:
        statement = guard(sql, writes=writes)
    except UnsafeStatement:
        return
    parsed = parser.parse_sql(statement.explain_text)
    assert len(parsed) == 1 and isinstance(parsed[0].stmt, ast.ExplainStmt)
    allowed = (ast.SelectStmt, ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)
    assert isinstance(parsed[0].stmt.query, allowed if writes else ast.SelectStmt)
    numbers = {t for t in parser.scan(statement.text) if t.name == "PARAM"}
    assert len({statement.text[t.start:t.end + 1] for t in numbers}) == len(statement.names)
    assert "\x00" not in statement.text


@pytest.fixture(scope="module")
def traced(postgres_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """A real connection whose protocol messages the tests can read (libpq trace)."""
    with psycopg.connect(postgres_dsn) as conn:
        yield conn


_file_text = st.lists(_fragments, max_size=14).map("".join) | st.text(
    alphabet=st.characters(blacklist_categories=["Cs"]), max_size=60)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sql=_file_text)
def test_a_refused_statement_never_reaches_the_server(traced: psycopg.Connection[Any], tmp_path: Path,
                                                      sql: str) -> None:
    source = tmp_path / "q.sql"
    source.write_text(sql, encoding="utf-8")
    trace = tmp_path / "libpq.trace"
    run = QueryRun("q", "q", {"x": 1, "y": "a"})
    session = ExplainSession(traced, None, statement_timeout(2000, 1, 60))
    with trace.open("w") as sink:
        traced.pgconn.trace(sink.fileno())
        try:
            done = explain_query(session, run, source, writes=False, repeats=1)
        finally:
            traced.pgconn.untrace()
    sent = [line.split("\t") for line in trace.read_text().splitlines() if line.split("\t")[1:2] == ["F"]]
    if done.error and ("refused before it reached the server" in done.error or "no value for" in done.error):
        assert sent == []
    else:  # what the guard let through went only as a prepared statement, under READ ONLY
        assert {f[3] for f in sent if EXPLAIN_PREFIX.strip() in "\t".join(f)} == {"Parse"}
        assert any("BEGIN READ ONLY" in "\t".join(f) for f in sent)
