"""Migrations are reversible: apply all, revert all, apply again on a scratch database, compare.

The scratch database is created on the same server as the migrated one (``CREATE DATABASE``
needs that privilege: the gate's throwaway PostgreSQL grants it) and always dropped after.
The project's own migration commands run with ``DATABASE_URL`` and libpq's ``PG*`` variables
naming the scratch database, so the round trip is exactly what its developers would run.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from pipeline import proc
from pipeline.catalog import CONNECT_TIMEOUT_S, Table, read_catalog
from pipeline.checks.schema.settings import Migrations
from pipeline.errors import CheckError, ToolFailed
from pipeline.redact import redact
from pipeline.target.service import expand


@dataclass(frozen=True)
class RoundTrip:
    """The catalog after the first apply, after reverting, after applying again (None: that step failed)."""

    first: dict[str, Table] | None
    reverted: dict[str, Table] | None
    again: dict[str, Table] | None
    failure: str = ""  # the step that failed, with the tool's last lines


def round_trip(dsn: str, migrations: Migrations, schemas: tuple[str, ...], project_dir: Path,
               env: Mapping[str, str], logs: Path) -> RoundTrip:
    """Up, down, up on a fresh scratch database; the first step that fails ends it (its failure is data)."""
    workdir = project_dir / migrations.workdir
    with scratch_database(dsn) as scratch:
        tool_env = {**env, **connection_variables(scratch)}

        def step(name: str, argv: tuple[str, ...]) -> str:
            try:
                proc.run_tool(expand(argv, 0), log_path=logs / f"schema-{name}.log", timeout_s=migrations.timeout_s,
                              cwd=workdir, env=tool_env)
            except ToolFailed as exc:
                if exc.interrupted:  # stopped by the gate (Ctrl-C, SIGTERM): no judgement of the migrations
                    raise CheckError(f"the migration command ({name}) was interrupted") from None
                return f"{name}: {exc.reason}"
            return ""

        failed = step("up", migrations.up)
        if failed:
            return RoundTrip(None, None, None, failed)
        first = read_catalog(scratch, schemas)
        failed = step("down", migrations.down)
        if failed:
            return RoundTrip(first, None, None, failed)
        reverted = read_catalog(scratch, schemas)
        failed = step("up-again", migrations.up)
        return RoundTrip(first, reverted, None if failed else read_catalog(scratch, schemas), failed)


@contextlib.contextmanager
def scratch_database(dsn: str) -> Iterator[str]:
    """A new, empty database on the server of ``dsn``; its DSN. Dropped afterwards, whatever happens."""
    name = f"readiness_scratch_{secrets.token_hex(6)}"
    with _admin(dsn) as conn:
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            raise CheckError(f"cannot create a scratch database for the migration round trip: "
                             f"{redact(str(exc)).strip()}",
                             "Give the role CREATEDB, or leave checks.schema.migrations.up empty.") from None
    try:
        yield with_database(dsn, name)
    finally:
        with _admin(dsn) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _admin(dsn: str) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        raise CheckError(f"cannot connect to the database: {redact(str(exc)).strip()}") from None


def with_database(dsn: str, database: str) -> str:
    """``dsn`` pointing at another database on the same server, as a postgresql:// URL."""
    parts = conninfo_to_dict(dsn)
    user = quote(str(parts.get("user", "")), safe="")
    password = parts.get("password")
    credentials = f"{user}:{quote(str(password), safe='')}@" if password else (f"{user}@" if user else "")
    host = str(parts.get("host", "127.0.0.1"))
    netloc = f"[{host}]" if ":" in host else host
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{credentials}{netloc}{port}/{quote(database, safe='')}"


def connection_variables(dsn: str) -> dict[str, str]:
    """``DATABASE_URL`` and libpq's PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE for a DSN."""
    parts = conninfo_to_dict(dsn)
    named = {"PGHOST": "host", "PGPORT": "port", "PGUSER": "user", "PGPASSWORD": "password", "PGDATABASE": "dbname"}
    return {"DATABASE_URL": dsn, **{var: str(parts[key]) for var, key in named.items() if parts.get(key)}}
