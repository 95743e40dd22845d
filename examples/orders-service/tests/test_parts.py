"""Migrations, seed, rate limit, settings, logs and the committed OpenAPI spec."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import psycopg
import pytest
from orders_service import migrate, openapi_export
from orders_service.errors import ApiError
from orders_service.observability import JsonFormatter
from orders_service.ratelimit import RateLimiter, SharedRateLimiter
from orders_service.settings import Settings, database_url

from tests.conftest import SEED_CUSTOMERS, SEED_ORDERS


def _tables(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


@pytest.fixture
def empty_db(server_url: str) -> psycopg.Connection:
    name = "orders_migrate_test"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    from tests.conftest import _with_database

    return psycopg.connect(_with_database(server_url, name), autocommit=True)


def test_migrations_go_up_and_all_the_way_down(empty_db: psycopg.Connection) -> None:
    with empty_db as conn:
        assert migrate.up(conn) == [1]
        assert {"customers", "orders", "order_lines"} <= _tables(conn)
        indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename='orders'")}
        assert "orders_customer_created_idx" in indexes
        assert migrate.up(conn) == []  # idempotent
        assert migrate.down(conn, to_version=1) == []  # nothing above version 1
        assert migrate.down(conn) == [1]
        assert _tables(conn) == {"schema_migrations"}


def test_a_failing_migration_leaves_nothing_half_applied(empty_db: psycopg.Connection, tmp_path: Path) -> None:
    (tmp_path / "0001_ok.up.sql").write_text("CREATE TABLE a (id int);")
    (tmp_path / "0001_ok.down.sql").write_text("DROP TABLE a;")
    (tmp_path / "0002_bad.up.sql").write_text("CREATE TABLE b (id int); SELECT no_such_column FROM a;")
    (tmp_path / "0002_bad.down.sql").write_text("DROP TABLE b;")
    with empty_db as conn:
        with pytest.raises(psycopg.errors.UndefinedColumn):
            migrate.up(conn, tmp_path)
        assert _tables(conn) == {"schema_migrations", "a"}
        assert migrate.applied(conn) == {1}


def test_migration_files_must_pair_up(tmp_path: Path) -> None:
    (tmp_path / "0001_x.up.sql").write_text("")
    with pytest.raises(ValueError, match=r"0001_x\.down\.sql is missing"):
        migrate.discover(tmp_path)
    (tmp_path / "0001_x.down.sql").write_text("")
    (tmp_path / "1_bad.up.sql").write_text("")
    with pytest.raises(ValueError, match="expected NNNN_name"):
        migrate.discover(tmp_path)


def test_seed_loads_the_requested_rows_with_consistent_totals(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM customers WHERE email LIKE 'customer%'").fetchone() == (
            SEED_CUSTOMERS,)
        assert conn.execute("SELECT count(*) FROM orders WHERE id <= %s", (SEED_ORDERS,)).fetchone() == (
            SEED_ORDERS,)
        wrong = conn.execute("SELECT count(*) FROM orders o WHERE o.id <= %s AND total_cents <> "
                             "(SELECT sum(quantity * unit_price_cents) FROM order_lines WHERE order_id = o.id)",
                             (SEED_ORDERS,)).fetchone()
        assert wrong == (0,)


def test_migrate_and_seed_commands_report_a_bad_database(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from orders_service import seed

    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody:x@127.0.0.1:1/none?connect_timeout=1")
    assert migrate.main(["up"]) == 1
    assert seed.main(["--orders", "1"]) == 1
    errors = capsys.readouterr().err
    assert errors.startswith("migrate up failed: connection failed") and "\nseed failed: connection failed" in errors


def test_migrate_command_runs(database_url: str, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert migrate.main(["up"]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_rate_limit_allows_the_budget_then_429_with_retry_after() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=3, clock=lambda: now[0])
    for _ in range(3):
        limiter.take("alice")
    with pytest.raises(ApiError) as refused:
        limiter.take("alice")
    assert refused.value.status == 429 and refused.value.headers == {"Retry-After": "20"}
    limiter.take("bob")  # buckets are per subject
    now[0] = 20.0  # one token refilled (3 per minute)
    limiter.take("alice")


def test_two_workers_share_one_quota_through_the_state_folder(tmp_path: Path) -> None:
    now = [0.0]
    first, second = (SharedRateLimiter(per_minute=3, path=tmp_path / "ratelimit.sqlite", clock=lambda: now[0])
                     for _ in range(2))  # as two worker processes open it
    first.take("alice")
    second.take("alice")
    first.take("alice")
    with pytest.raises(ApiError) as refused:
        second.take("alice")  # the quota is granted once, not once per worker
    assert refused.value.status == 429 and refused.value.headers == {"Retry-After": "20"}
    second.take("bob")
    now[0] = 20.0
    first.take("alice")


def test_settings_need_database_url_and_secret() -> None:
    with pytest.raises(RuntimeError, match="DATABASE_URL and JWT_SECRET"):
        Settings.from_env({})
    settings = Settings.from_env({"DATABASE_URL": "postgresql://x", "JWT_SECRET": "s", "POOL_MAX": "4"})
    assert settings.pool_max == 4
    with pytest.raises(SystemExit):
        database_url({})


def test_json_logs_carry_the_request_id() -> None:
    record = logging.LogRecord("orders_service", logging.INFO, __file__, 1, "request", None, None)
    record.request_id = "r-1"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["request_id"] == "r-1" and entry["msg"] == "request" and entry["level"] == "info"


def test_committed_spec_matches_the_code() -> None:
    committed = openapi_export.SPEC_FILE.read_text()
    assert committed == openapi_export.render(openapi_export.generated_spec()), (
        "openapi.json is stale: run python -m orders_service.openapi_export")


def test_every_operation_documents_errors_and_an_sla() -> None:
    spec = openapi_export.generated_spec()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert {"400", "401", "422", "500"} <= set(operation["responses"]), (method, path)
            assert operation["x-sla"]["p95_ms"] <= 200, (method, path)


def test_token_command_prints_a_token(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import jwt
    from orders_service import auth

    monkeypatch.setenv("DATABASE_URL", "postgresql://x")
    monkeypatch.setenv("JWT_SECRET", "s3cret")
    monkeypatch.setattr("sys.argv", ["auth", "60"])
    auth.main()
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, "s3cret", algorithms=["HS256"], audience="orders-service")
    assert claims["scope"] == "orders:write" and claims["exp"] - claims["iat"] == 60


def test_export_writes_the_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "openapi.json"
    monkeypatch.setattr(openapi_export, "SPEC_FILE", target)
    assert openapi_export.main() == 0
    assert json.loads(target.read_text())["info"]["title"] == "orders-service"


def test_log_configuration_writes_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    from orders_service.observability import configure_logging

    configure_logging()
    stream = io.StringIO()
    handler = logging.getLogger("orders_service").handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    logging.getLogger("orders_service").info("hello")
    assert json.loads(stream.getvalue())["msg"] == "hello"
