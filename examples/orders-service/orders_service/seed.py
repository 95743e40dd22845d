"""Demo data: ``python -m orders_service.seed [--orders N] [--customers N]``.

Enough rows (100k orders by default) that a missing index shows in a plan.
"""

from __future__ import annotations

import argparse
from typing import Any

import psycopg

from orders_service.db import query, run_command


def seed(conn: psycopg.Connection, orders: int, customers: int) -> None:
    """Replace every row with ``customers`` generated customers and ``orders`` orders."""
    # ClientCursor: the seed is several statements with parameters, sent as one script.
    with conn.transaction(), psycopg.ClientCursor(conn) as cur:
        cur.execute("TRUNCATE order_lines, orders, customers RESTART IDENTITY")
        cur.execute(query("seed"), {"orders": orders, "customers": customers})


def main(argv: list[str] | None = None) -> int:
    """The command line: seed $DATABASE_URL; the exit code."""
    parser = argparse.ArgumentParser(prog="python -m orders_service.seed")
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=10_000)
    args = parser.parse_args(argv)
    def load(conn: psycopg.Connection[Any]) -> str:
        seed(conn, args.orders, args.customers)
        return f"{args.customers} customers, {args.orders} orders"

    return run_command("seed", load, autocommit=True)


if __name__ == "__main__":
    raise SystemExit(main())
