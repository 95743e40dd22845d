"""The database's connection variables reach the setup commands and the service: DATABASE_URL, libpq's
PG* variables, and ``{db_*}`` placeholders in env and commands; the password masked everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from pipeline.redact import redact
from pipeline.target import TargetError, running_target
from pipeline.target.service import expand

# Writes what it was given (argv and the variables) to a file, as a migration or a service would read them.
RECORD = ("import json, os, sys; json.dump({'argv': sys.argv[1:], 'env': {k: os.environ.get(k) for k in "
          "('PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGDATABASE', 'DATABASE_URL', 'POSTGRES_SERVER', "
          "'POSTGRES_PORT', 'POSTGRES_PASSWORD', 'APP_DSN')}}, open(sys.argv[1], 'w'))")


def test_setup_and_service_get_the_libpq_variables_and_their_own_names(tmp_path: Path) -> None:
    settings = {
        "database": "postgres",
        "env": {"POSTGRES_SERVER": "{db_host}", "POSTGRES_PORT": "{db_port}", "POSTGRES_PASSWORD": "{db_password}",
                "APP_DSN": "host={db_host} port={db_port} dbname={db_name} user={db_user}"},
        "setup": [["{python}", "-c", RECORD, str(tmp_path / "setup.json"), "{db_name}", "{db_user}"]],
        # A service that records what it got, then serves / (its readiness answer) on {port}.
        "command": ["{python}", "-c", RECORD + "; import http.server as h; h.ThreadingHTTPServer(('127.0.0.1', "
                    "int(sys.argv[2])), h.SimpleHTTPRequestHandler).serve_forever()",
                    str(tmp_path / "service.json"), "{port}"],
        "ready_path": "/",
    }
    with running_target(settings, tmp_path, tmp_path / "evidence") as target:
        dsn = target.env["READINESS_DATABASE_URL"]
        setup = json.loads((tmp_path / "setup.json").read_text())
        service = json.loads((tmp_path / "service.json").read_text())
        parts = conninfo_to_dict(dsn)
        for seen in (setup["env"], service["env"]):
            assert seen["DATABASE_URL"] == dsn
            assert (seen["PGHOST"], seen["PGPORT"], seen["PGUSER"], seen["PGPASSWORD"], seen["PGDATABASE"]) == \
                (parts["host"], parts["port"], parts["user"], parts["password"], parts["dbname"])
            assert (seen["POSTGRES_SERVER"], seen["POSTGRES_PORT"], seen["POSTGRES_PASSWORD"]) == \
                (parts["host"], parts["port"], parts["password"])
            # The service's own DSN, built from the parts, really connects.
            with psycopg.connect(seen["APP_DSN"], password=seen["PGPASSWORD"]) as conn:
                assert conn.execute("SELECT current_database()").fetchone() == (parts["dbname"],)
        assert setup["argv"][1:] == [parts["dbname"], parts["user"]]
        password = str(parts["password"])
        assert password not in redact(f"password={password} {json.dumps(setup)}")
    logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "evidence" / "target").glob("*.log"))
    assert password not in logs


def test_a_database_placeholder_without_a_database_is_an_error() -> None:
    assert expand(["{python}", "--port={port}"], 8080)[1] == "--port=8080"
    with pytest.raises(TargetError, match=r"names \{db_host\}, but the target starts no database"):
        expand(["serve", "--db={db_host}"], 8080)


def test_a_hard_wired_connection_is_the_one_the_throwaway_postgres_takes(tmp_path: Path) -> None:
    # The Node service tried in docs/tried-on.md connects to localhost:54310 as myuser/myuserpassword, database
    # shop (its docker-compose test database): service.start.postgres gives the gate's PostgreSQL those values.
    from pipeline.target.owned import free_port

    port = free_port()
    settings = {"database": "postgres", "postgres": {"port": port, "user": "myuser", "password": "my-pass word",
                                                     "database": "shop-db"},
                "command": ["{python}", "-m", "http.server", "{port}", "--bind", "127.0.0.1"], "ready_path": "/"}
    with running_target(settings, tmp_path, tmp_path / "evidence") as target:
        parts = conninfo_to_dict(target.env["READINESS_DATABASE_URL"])
        assert (parts["port"], parts["user"], parts["password"], parts["dbname"]) == \
            (str(port), "myuser", "my-pass word", "shop-db")
        # What the service's code hard-wires connects, as written there.
        with psycopg.connect(host="localhost", port=port, user="myuser", password="my-pass word",
                             dbname="shop-db") as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("myuser",)
    assert "my-pass word" not in redact("password=my-pass word")  # masked like a generated one
