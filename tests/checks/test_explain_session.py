"""The explain check's database layers, each tested on its own against a real PostgreSQL.

The SQL guard is the first layer; these tests hand the execution function text that the
guard would have refused, to prove the layers below it hold alone: the extended
protocol (one statement only), READ ONLY, the rollback, the role, the statement timeout
and the cancel when the gate gives up on the check.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from pipeline import runner
from pipeline.checks.explain.session import explain_in_rolled_back_transaction, statement_timeout
from pipeline.checks.explain.sql import EXPLAIN_PREFIX
from pipeline.model import CheckResult, Status
from pipeline.runner import run_check
from pipeline.views import Facts
from tests.conftest import config_from

APPLICATION = "readiness-gate explain"
READER = "readiness explain reader"  # a name that needs quoting


@pytest.fixture(scope="module")
def layers_db(postgres_dsn: str) -> Iterator[str]:
    """Two tables, a role that may read only one of them, and a function that writes."""
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS ledger, secrets")
        conn.execute("CREATE TABLE ledger (id int PRIMARY KEY, amount int)")
        conn.execute("INSERT INTO ledger SELECT g, g FROM generate_series(1, 100) g")
        conn.execute("CREATE TABLE secrets (id int)")
        conn.execute(f'DROP ROLE IF EXISTS "{READER}"')
        conn.execute(f'CREATE ROLE "{READER}" NOLOGIN')
        conn.execute(f'GRANT SELECT ON ledger TO "{READER}"')
        conn.execute(f'GRANT "{READER}" TO CURRENT_USER')
        conn.execute("CREATE OR REPLACE FUNCTION ledger_wipe() RETURNS int LANGUAGE sql "
                     "AS 'DELETE FROM ledger RETURNING 1'")
    yield postgres_dsn
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("DROP FUNCTION IF EXISTS ledger_wipe()")
        conn.execute("DROP TABLE IF EXISTS ledger, secrets")
        conn.execute(f'DROP OWNED BY "{READER}"')
        conn.execute(f'DROP ROLE IF EXISTS "{READER}"')


def _ledger(dsn: str) -> tuple[Any, ...]:
    with psycopg.connect(dsn) as conn:
        return tuple(conn.execute("SELECT count(*), sum(amount) FROM ledger").fetchone() or ())


def _run(conn: psycopg.Connection[Any], text: str, writes: bool, role: str | None = None) -> Any:
    return explain_in_rolled_back_transaction(conn, text, [], writes=writes, timeout_ms=5000, role=role)


@pytest.mark.parametrize("text", [
    EXPLAIN_PREFIX + "SELECT 1; DELETE FROM ledger",
    EXPLAIN_PREFIX + "SELECT 1; COMMIT; DELETE FROM ledger; SELECT 1",
    "SELECT 1; COMMIT; CREATE TABLE pwned (); SELECT 1",
])
def test_several_statements_are_refused_by_the_server_even_without_parameters(layers_db: str, text: str) -> None:
    before = _ledger(layers_db)
    with psycopg.connect(layers_db) as conn:
        with pytest.raises(psycopg.errors.SyntaxError, match="cannot insert multiple commands into a prepared"):
            _run(conn, text, writes=True)  # writes: true, so READ ONLY is not what stops it
        assert conn.execute("SELECT to_regclass('pwned')").fetchone() == (None,)
    assert _ledger(layers_db) == before


def test_the_statement_is_sent_only_as_a_prepared_statement(layers_db: str, tmp_path: Path) -> None:
    trace = tmp_path / "libpq.trace"
    with psycopg.connect(layers_db) as conn, trace.open("w") as sink:
        conn.pgconn.trace(sink.fileno())
        output = _run(conn, EXPLAIN_PREFIX + "SELECT count(*) FROM ledger", writes=False)
        conn.pgconn.untrace()
    assert output[0]["Plan"]["Node Type"] == "Aggregate"
    sent = [line.split("\t") for line in trace.read_text().splitlines() if line.split("\t")[1:2] == ["F"]]
    carrying = [fields[3] for fields in sent if "FROM ledger" in "\t".join(fields)]
    assert carrying == ["Parse"]  # never a simple-protocol Query message


def test_read_only_refuses_a_write_that_passed_the_guard(layers_db: str) -> None:
    before = _ledger(layers_db)
    with psycopg.connect(layers_db) as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            _run(conn, EXPLAIN_PREFIX + "DELETE FROM ledger", writes=False)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            _run(conn, EXPLAIN_PREFIX + "SELECT ledger_wipe()", writes=False)
    assert _ledger(layers_db) == before


def test_a_write_is_rolled_back(layers_db: str) -> None:
    before = _ledger(layers_db)
    with psycopg.connect(layers_db) as conn:
        output = _run(conn, EXPLAIN_PREFIX + "SELECT ledger_wipe()", writes=True)
    assert output[0]["Plan"]["Node Type"] == "Result"
    assert _ledger(layers_db) == before


def test_the_role_is_switched_inside_the_transaction_only(layers_db: str) -> None:
    with psycopg.connect(layers_db) as conn:
        login = conn.execute("SELECT current_user").fetchone()
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for table secrets"):
            _run(conn, EXPLAIN_PREFIX + "SELECT * FROM secrets", writes=False, role=READER)
        assert conn.execute("SELECT current_user").fetchone() == login  # SET LOCAL ended with the rollback


def _role(result: CheckResult) -> str:
    """The role the report names (its "Plans ran as" facts)."""
    facts = [v for v in result.views if isinstance(v, Facts) and v.title == "Plans ran as"]
    assert len(facts) == 1
    return dict(facts[0].items)["role"]


def _explain(tmp_path: Path, dsn: str, sql: str, **extra: Any) -> CheckResult:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "q.sql").write_text(sql)
    query = {"name": "q", "sql_file": "q.sql", **extra.pop("query", {})}
    settings = {"dsn": dsn, "runs": 1, "queries": [query], **extra}
    config = config_from(tmp_path, yaml.safe_dump({"version": 1, "checks": {"explain": settings}}))
    return run_check("explain", config, tmp_path / "reports", tmp_path)


def test_the_check_runs_as_the_configured_role_and_says_so(tmp_path: Path, layers_db: str) -> None:
    result = _explain(tmp_path, layers_db, "SELECT sum(amount) FROM ledger", role=READER)
    assert result.status is Status.PASS, result.reasons
    assert _role(result) == READER
    assert f"role={READER}" in result.tool.command
    assert f"as role {READER}" in result.summary
    denied = _explain(tmp_path / "denied", layers_db, "SELECT * FROM secrets", role=READER)
    assert denied.status is Status.ERROR and "permission denied for table secrets" in denied.reasons[0]


def test_without_a_role_the_login_user_is_reported(tmp_path: Path, layers_db: str) -> None:
    result = _explain(tmp_path, layers_db, "SELECT 1")
    with psycopg.connect(layers_db) as conn:
        login = (conn.execute("SELECT current_user").fetchone() or ("?",))[0]
    assert result.status is Status.PASS and _role(result) == login


def test_a_role_the_login_user_cannot_take_is_an_error(tmp_path: Path, layers_db: str) -> None:
    result = _explain(tmp_path, layers_db, "SELECT 1", role='no "such" role')
    assert result.status is Status.ERROR
    assert result.summary.startswith("cannot switch to the role 'no \"such\" role'")


@pytest.mark.parametrize(("configured", "executions", "budget_s", "expected"), [
    (5000, 4, 900.0, 5000),       # the config fits the budget
    (5000, 10, 2.0, 160),         # 80% of 2 s over 10 runs
    (160, 10, 2.0, 160),          # exactly at the cap
    (161, 10, 2.0, 160),
    (5000, 100_000, 1.0, 1),      # never 0, which PostgreSQL reads as "no timeout"
])
def test_the_statement_timeout_fits_the_check_budget(configured: int, executions: int, budget_s: float,
                                                     expected: int) -> None:
    timeout = statement_timeout(configured, executions, budget_s)
    assert timeout.ms == expected
    assert timeout.capped is (expected < configured)
    assert timeout.ms * executions <= max(budget_s * 1000 * 0.8, executions)


def test_a_capped_timeout_stops_the_query_and_says_why(tmp_path: Path, layers_db: str) -> None:
    started = time.monotonic()
    result = _explain(tmp_path, layers_db, "SELECT pg_sleep(30)", timeout_s=2, statement_timeout_ms=60_000)
    assert time.monotonic() - started < 10
    assert result.status is Status.ERROR
    assert ("ran past the statement timeout (800 ms: statement_timeout_ms 60000 was capped so that all 2 runs "
            "fit in the check's 2 s budget)") in result.reasons[0]
    assert "statement_timeout=800ms" in result.tool.command


def _active_explains(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute("SELECT pid, query FROM pg_stat_activity WHERE application_name = %s "
                            "AND state = 'active'", (APPLICATION,)).fetchall()


def _wait_until_none_active(dsn: str, seconds: float) -> list[tuple[Any, ...]]:
    deadline = time.monotonic() + seconds
    while (active := _active_explains(dsn)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return active


def _seen_active(dsn: str, seen: list[bool], stop: threading.Event) -> None:
    while not stop.is_set():
        seen.append(any("pg_sleep" in query for _, query in _active_explains(dsn)))
        time.sleep(0.1)


def test_an_abandoned_check_leaves_no_query_running(tmp_path: Path, layers_db: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # The statement timeout (capped at 80% of 60 s / 2 runs = 24 s) would end pg_sleep(30) long
    # after the test looks: only the cancel sent when the runner gives up can end it in time.
    monkeypatch.setattr(runner, "WATCHDOG_GRACE_S", -58.5)  # the runner gives up after 1.5 s
    seen: list[bool] = []
    stop = threading.Event()
    watcher = threading.Thread(target=_seen_active, args=(layers_db, seen, stop))
    watcher.start()
    try:
        result = _explain(tmp_path, layers_db, "SELECT pg_sleep(30)", timeout_s=60, statement_timeout_ms=30_000)
    finally:
        stop.set()
        watcher.join()
    assert result.status is Status.ERROR and "was abandoned" in result.summary
    assert any(seen), "the query never ran: the test proves nothing"
    assert _wait_until_none_active(layers_db, 3.0) == []


def _ctrl_c() -> None:
    # A real SIGINT to the main thread, as a terminal sends it (interrupt_main would not wake a wait).
    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)


def test_an_interrupted_check_leaves_no_query_running(tmp_path: Path, layers_db: str) -> None:
    timer = threading.Timer(1.5, _ctrl_c)  # while pg_sleep runs; its statement timeout is 24 s
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            _explain(tmp_path, layers_db, "SELECT pg_sleep(30)", timeout_s=60, statement_timeout_ms=30_000)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 12, "the runner waited for the statement timeout: no cancel reached it"
    assert _wait_until_none_active(layers_db, 3.0) == []
    written = CheckResult.from_dict(yaml.safe_load((tmp_path / "reports" / "results" / "explain.json").read_text()))
    assert written.status is Status.ERROR
    assert any("the running query was cancelled" in reason for reason in written.reasons), written.reasons


def test_the_readme_role_recipe_gives_a_role_that_reads_but_cannot_write(tmp_path: Path, layers_db: str) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    recipe = readme.split("Create the role once")[1].split("```sql")[1].split("```")[0]
    statements = [line.split("--")[0].strip() for line in recipe.splitlines() if line.split("--")[0].strip()]
    with psycopg.connect(layers_db, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS readiness_explain")
        try:
            for statement in statements:
                conn.execute(statement.replace("app_user", "CURRENT_USER"))
            reads = _explain(tmp_path / "reads", layers_db, "SELECT count(*) FROM ledger", role="readiness_explain")
            writes = _explain(tmp_path / "writes", layers_db, "DELETE FROM ledger", role="readiness_explain",
                              query={"writes": True})
        finally:
            conn.execute("DROP OWNED BY readiness_explain")
            conn.execute("DROP ROLE readiness_explain")
    assert reads.status is Status.PASS and _role(reads) == "readiness_explain"
    assert writes.status is Status.ERROR and "permission denied for table ledger" in writes.reasons[0]
