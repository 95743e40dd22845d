"""The service's own test suite gets a database: a fresh one, migrated with the setup commands, on the gate's
PostgreSQL (checks.coverage.database), handed as DATABASE_URL and libpq's PG* variables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipeline._cli import main
from pipeline.config import ConfigError
from pipeline.gate import check_settings
from pipeline.model import Status
from pipeline.runner import run_check
from tests.conftest import config_from, python_test_command

MIGRATE = """import os, psycopg
with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
    conn.execute("CREATE TABLE items (id int PRIMARY KEY, db text NOT NULL)")
    conn.execute("INSERT INTO items VALUES (1, current_database())")
"""
SUITE = """import os, psycopg
from pkg import label


def test_the_suite_has_its_own_migrated_database():
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        assert conn.execute("SELECT db FROM items").fetchone() == (os.environ["PGDATABASE"],)
    assert os.environ["PGDATABASE"] == "app_test"
    # its own names, mapped in checks.coverage.env (a suite that reads POSTGRES_SERVER... needs no wrapper)
    own = psycopg.conninfo.make_conninfo(host=os.environ["APP_DB_HOST"], port=os.environ["APP_DB_PORT"],
                                         user=os.environ["APP_DB_USER"], password=os.environ["APP_DB_PASSWORD"],
                                         dbname=os.environ["APP_DB_NAME"])
    with psycopg.connect(own) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("app_test",)
    assert label(1) == "item 1"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("def label(n):\n    return f'item {n}'\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_db.py").write_text(SUITE)
    (tmp_path / "migrate.py").write_text(MIGRATE)
    return tmp_path


def _config(database: str, start: bool = True, root: Path | None = None) -> dict[str, object]:
    """The config; with ``root``, every path absolute (Nox runs the gate from the gate's own folder)."""
    where = f"{root}/" if root else ""
    coverage = {"command": python_test_command(f"{where}reports/evidence"), "cobertura":
                f"{where}reports/evidence/coverage.xml", "junit": [f"{where}reports/evidence/junit.xml"],
                "database": database, "cwd": root.as_posix() if root else ".",
                "env": {f"APP_DB_{part.upper()}": f"{{db_{part}}}" for part in ("host", "port", "user", "password",
                                                                                  "name")}}
    service = {"start": {"database": "postgres", "setup": [["{python}", "migrate.py"]],
                         "command": ["{python}", "-m", "http.server", "{port}", "--bind", "127.0.0.1"],
                         "ready_path": "/", "workdir": root.as_posix() if root else "."}} if start else {}
    return {"version": 1, "service": service, "checks": {"coverage": coverage}}


def test_a_fresh_migrated_database_lets_a_db_backed_suite_pass(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    monkeypatch.delenv("READINESS_DATABASE_URL", raising=False)
    (project / "readiness.yaml").write_text(yaml.safe_dump(_config("fresh")))
    assert main(["run", "--only", "coverage", "--config", "readiness.yaml", "--reports-dir", "reports"]) == 2
    result = json.loads((project / "reports" / "results" / "coverage.json").read_text())
    assert result["status"] == "pass", result["reasons"]
    logs = project / "reports" / "evidence" / "target"
    assert (logs / "setup-1.log").is_file() and (logs / "setup-test-1.log").is_file()  # migrated twice


def test_asking_for_a_database_without_the_target_is_an_error_saying_how(project: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("READINESS_TEST_DATABASE_URL", raising=False)
    config = config_from(project, yaml.safe_dump(_config("fresh", start=False)))
    done = run_check("coverage", config, project / "reports", project)
    assert done.status is Status.ERROR and "READINESS_TEST_DATABASE_URL is not set" in done.summary
    assert not (project / "reports" / "evidence" / "junit.xml").exists()  # the suite never ran


def test_a_database_placeholder_without_a_suite_database_is_a_config_error(project: Path) -> None:
    with pytest.raises(ConfigError, match=r"env APP_DB_HOST.*database is none"):
        check_settings(config_from(project, yaml.safe_dump(_config("none", start=False))), "coverage")


def test_nox_starts_the_target_for_a_suite_that_asks_for_a_database(project: Path) -> None:
    # coverage needs the target only with database: fresh; the registry says so (may_need_target)
    from tests.test_noxfile import nox

    (project / "readiness.yaml").write_text(yaml.safe_dump(_config("fresh", root=project)))
    out = project / "out"
    done = nox("-s", "coverage", "--", "--config", str(project / "readiness.yaml"), "--reports-dir", str(out),
               tmp_path=project)
    result = json.loads((out / "results" / "coverage.json").read_text())
    assert result["status"] == "pass", (result["reasons"], done.stderr[-2000:])
    assert (out / "evidence" / "target" / "setup-test-1.log").is_file()
    assert "starting the service under test" in done.stdout + done.stderr  # by the session, for every check


def test_the_registry_says_which_checks_may_need_the_target() -> None:
    from pipeline.checks.registry import may_need_target, registry

    flags = {c["name"]: (c["needs_target"], c["may_need_target"]) for c in registry().describe()}
    assert flags["coverage"] == (False, True) and flags["openapi"] == (False, True)  # with some settings only
    assert flags["k6"] == (True, True) and flags["audit"] == (False, False)
    assert may_need_target(registry().get("coverage"))
