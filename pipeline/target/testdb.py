"""A database for the service's own test suite, on the gate's throwaway PostgreSQL.

``checks.coverage.database``: ``fresh`` is a separate database on the same cluster, made when
the target starts and migrated with the same setup commands as the service's; ``service`` is
the service's own database. The test command gets it as ``DATABASE_URL`` and libpq's ``PG*``
variables, as the service does, and ``checks.coverage.env`` may map its parts onto the suite's own
names with ``{db_host}``, ``{db_port}``, ``{db_user}``, ``{db_password}``, ``{db_name}``.
"""

from __future__ import annotations

from collections.abc import Mapping

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pipeline.errors import ArtifactMissing
from pipeline.target.postgres import connection_variables

TEST_DATABASE = "app_test"
VARIABLES = {"fresh": "READINESS_TEST_DATABASE_URL", "service": "READINESS_DATABASE_URL"}


def create_test_database(dsn: str) -> str:
    """An empty database beside the service's (same cluster, same owner); returns its DSN."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {TEST_DATABASE}")
    parts = conninfo_to_dict(dsn)
    parts["dbname"] = TEST_DATABASE
    return make_conninfo(**{k: str(v) for k, v in parts.items() if v is not None})


def suite_database(mode: str, env: Mapping[str, str], own: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables the test command gets for ``mode``; without the target, an error.

    ``own`` is ``checks.coverage.env``: its ``{db_*}`` placeholders are filled in from the suite's database
    (the settings refuse them with ``mode`` none: an empty host would be a silent guess).
    """
    own = dict(own or {})
    if mode == "none":
        return own
    dsn = env.get(VARIABLES[mode])
    if not dsn:
        raise ArtifactMissing(
            f"checks.coverage.database is {mode}, but the gate started no database for the tests "
            f"({VARIABLES[mode]} is not set)",
            "Give the config service.start with database: postgres, and run the check through readiness run "
            "(or with readiness target running); or set checks.coverage.database: none.")
    libpq, parts = connection_variables(dsn)
    mapped = {name: _fill(value, parts) for name, value in own.items()}
    return {"DATABASE_URL": dsn, **libpq, **mapped}


def _fill(value: str, parts: Mapping[str, str]) -> str:
    for placeholder, part in parts.items():
        value = value.replace(placeholder, part)
    return value
