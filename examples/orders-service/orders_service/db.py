"""Database access: one async connection pool, parameterised SQL only.

The critical queries live in ``sql/*.sql`` so that the readiness gate's explain
check plans exactly the text the endpoints run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from orders_service.settings import database_url


@cache
def query(name: str) -> str:
    """The text of ``sql/<name>.sql``."""
    return resources.files("orders_service").joinpath("sql", f"{name}.sql").read_text()


def create_pool(database_url: str, min_size: int, max_size: int) -> AsyncConnectionPool:
    """A closed pool of connections that return rows as dicts."""
    # open=False: the application's lifespan opens it, so import never touches the network.
    return AsyncConnectionPool(database_url, min_size=min_size, max_size=max_size, open=False,
                               kwargs={"row_factory": dict_row, "application_name": "orders-service"},
                               timeout=5.0)


async def fetch_all(pool: AsyncConnectionPool, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every row of ``sql`` run with ``params``."""
    # The pool's connections already make dict rows; naming the factory here tells the type checker.
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, params)
        return await cur.fetchall()


async def fetch_one(pool: AsyncConnectionPool, sql: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """The first row of ``sql`` run with ``params``, or None when there is none."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, params)
        return await cur.fetchone()


def run_command(label: str, action: Callable[[psycopg.Connection[Any]], str], autocommit: bool = False) -> int:
    """For the command-line tools (migrate, seed): run ``action`` on $DATABASE_URL, print one line, exit code."""
    try:
        with psycopg.connect(database_url(), autocommit=autocommit) as conn:
            outcome = action(conn)
    except psycopg.Error as exc:
        print(f"{label} failed: {exc}", file=sys.stderr)
        return 1
    print(f"{label}: {outcome}")
    return 0
