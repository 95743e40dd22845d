"""A real PostgreSQL for the tests (pgserver ships one; it needs no system install).

Set ORDERS_TEST_DATABASE_URL to use a server of your own instead; the tests create
and drop their own database on it.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from orders_service import migrate
from orders_service.app import create_app
from orders_service.auth import issue_token
from orders_service.seed import seed
from orders_service.settings import Settings

JWT_SECRET = "test-secret-" + uuid.uuid4().hex
SEED_ORDERS = 300
SEED_CUSTOMERS = 30


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    if os.environ.get("ORDERS_TEST_DATABASE_URL"):
        yield os.environ["ORDERS_TEST_DATABASE_URL"]
        return
    # pgserver/__init__ re-exports get_server implicitly; its defining module is the typed name.
    from pgserver.postgres_server import get_server

    with tempfile.TemporaryDirectory(prefix="orders-test-pg-") as folder:
        server = get_server(Path(folder), cleanup_mode="stop")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A fresh database, migrated and seeded once for the session."""
    name = f"orders_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = _with_database(server_url, name)
    with psycopg.connect(url, autocommit=True) as conn:
        migrate.up(conn)
        seed(conn, orders=SEED_ORDERS, customers=SEED_CUSTOMERS)
    yield url
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def _with_database(url: str, name: str) -> str:
    # postgresql://user:pw@/postgres?host=/socket  or  postgresql://user:pw@host:port/postgres
    base, sep, query = url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + (sep + query if sep else "")


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, jwt_secret=JWT_SECRET, writes_per_minute=600)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def writer_headers(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(settings.jwt_secret, 'tester', settings.jwt_audience)}"}
