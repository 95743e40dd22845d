"""Versioned SQL migrations: ``migrations/NNNN_name.up.sql`` and its ``.down.sql``.

``python -m orders_service.migrate up`` applies what is missing, in order;
``python -m orders_service.migrate down [--to N]`` reverts down to version N
(default: everything). Each migration runs in its own transaction together with
its row in ``schema_migrations``, so a failing one leaves nothing half-applied.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from orders_service.db import run_command

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.up\.sql$")


@dataclass(frozen=True)
class Migration:
    """One numbered migration and its up and down scripts."""

    version: int
    name: str
    up: Path
    down: Path


def discover(folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration in ``folder``, by version; each must have its down file."""
    found = []
    for path in sorted(folder.glob("*.up.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"{path.name}: expected NNNN_name.up.sql")
        down = path.with_name(path.name.replace(".up.sql", ".down.sql"))
        if not down.exists():
            raise ValueError(f"{path.name}: its down migration {down.name} is missing")
        found.append(Migration(int(match[1]), match[2], path, down))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError("two migrations share a version number")
    return found


def applied(conn: psycopg.Connection) -> set[int]:
    """The versions already applied (creates the bookkeeping table on first use)."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                 "(version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
    conn.commit()
    return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}


def up(conn: psycopg.Connection, folder: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply the missing migrations in order; the versions applied."""
    done = applied(conn)
    ran = []
    for migration in discover(folder):
        if migration.version in done:
            continue
        with conn.transaction():
            conn.execute(migration.up.read_text())
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                         (migration.version, migration.name))
        ran.append(migration.version)
    return ran


def down(conn: psycopg.Connection, to_version: int = 0, folder: Path = MIGRATIONS_DIR) -> list[int]:
    """Revert the applied migrations above ``to_version``, newest first; the versions reverted."""
    done = applied(conn)
    ran = []
    for migration in reversed(discover(folder)):
        if migration.version <= to_version or migration.version not in done:
            continue
        with conn.transaction():
            conn.execute(migration.down.read_text())
            conn.execute("DELETE FROM schema_migrations WHERE version = %s", (migration.version,))
        ran.append(migration.version)
    return ran


def main(argv: list[str] | None = None) -> int:
    """The command line: migrate $DATABASE_URL up or down; the exit code."""
    parser = argparse.ArgumentParser(prog="python -m orders_service.migrate")
    parser.add_argument("direction", choices=("up", "down"))
    parser.add_argument("--to", type=int, default=0, help="down: the version to stop at")
    parser.add_argument("--dir", type=Path, default=MIGRATIONS_DIR)
    args = parser.parse_args(argv)
    def migrate(conn: psycopg.Connection[Any]) -> str:
        versions = up(conn, args.dir) if args.direction == "up" else down(conn, args.to, args.dir)
        return ", ".join(map(str, versions)) or "nothing to do"

    return run_command(f"migrate {args.direction}", migrate)


if __name__ == "__main__":
    raise SystemExit(main())
