"""``readiness init`` on small repositories written here: what it infers, what it marks TODO, never overwriting."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline._cli import main
from pipeline.gate import check_settings, load_config
from pipeline.init import inspect
from pipeline.model import Status
from pipeline.runner import run_check

LOCKS = Path(__file__).parent / "checks" / "data" / "lockfiles"


def _fastapi_repo(root: Path) -> Path:
    """A FastAPI + Alembic + uv project, as such repositories are laid out."""
    (root / "app").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "svc"\ndependencies = ["fastapi", "sqlmodel"]\n'
                                         '[dependency-groups]\ndev = ["pytest", "pytest-cov"]\n')
    shutil.copy(LOCKS / "uv" / "uv.lock", root / "uv.lock")
    (root / "requirements.txt").write_text("fastapi==0.110.0\n")  # exported pins: audited too
    (root / "requirements-docs.txt").write_text("mkdocs>=1\n")  # not pinned: not a lock
    (root / "alembic.ini").write_text("[alembic]\nscript_location = app/alembic\n")
    (root / "app" / "main.py").write_text('from fastapi import FastAPI\napp = FastAPI()\n\n\n@app.get("/health")\n'
                                          "def health():\n    return {}\n")
    (root / "grafana").mkdir()
    (root / "grafana" / "svc.json").write_text(json.dumps({"title": "svc", "panels": []}))
    return root


def _express_repo(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "package.json").write_text(json.dumps({"name": "api", "dependencies": {"express": "4", "knex": "3"},
                                                   "devDependencies": {"jest": "29"}}))
    shutil.copy(LOCKS / "npm-v3" / "package-lock.json", root / "package-lock.json")
    (root / "openapi.yaml").write_text("openapi: 3.0.3\n")
    (root / "load").mkdir()
    (root / "load" / "smoke.js").write_text("import http from 'k6/http';\nexport default function () {}\n")
    return root


def test_a_fastapi_repository_is_recognised_part_by_part(tmp_path: Path) -> None:
    facts = inspect(_fastapi_repo(tmp_path / "svc"))
    assert (facts.language, facts.framework, facts.test_runner, facts.migrations) == \
        ("python", "FastAPI", "pytest-cov", "alembic")
    assert facts.lock_files == ["requirements.txt", "uv.lock"] and facts.dashboards == ["grafana/svc.json"]
    assert facts.health_paths == ["/health"] and facts.openapi == "" and facts.k6_scripts == []


def test_an_express_repository_is_recognised_part_by_part(tmp_path: Path) -> None:
    facts = inspect(_express_repo(tmp_path / "api"))
    assert (facts.language, facts.framework, facts.test_runner, facts.migrations) == \
        ("node", "Express", "jest", "knex")
    assert facts.lock_files == ["package-lock.json"] and facts.openapi == "openapi.yaml"
    assert facts.k6_scripts == ["load/smoke.js"]


def test_the_written_config_is_valid_marks_todos_and_its_todos_never_pass(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    repo = _fastapi_repo(tmp_path / "svc")
    assert main(["init", str(repo)]) == 0
    path = repo / "configs" / "readiness.yaml"
    text = path.read_text()
    # The application object is found (app/main.py makes `app = FastAPI()`); uv.lock: the tools run with uv.
    assert '"uv", "run", "--frozen", "python", "-m", "uvicorn", "app.main:app"' in text
    assert '"alembic", "upgrade", "head"' in text
    assert 'lock_files: ["requirements.txt", "uv.lock"]' in text
    assert "readiness.yaml (" in capsys.readouterr().out
    config = load_config(path)  # valid against the gate's schema as written
    assert check_settings(config, "coverage").model_dump()["database"] == "fresh"
    # A section left as a TODO is an error when run, never a pass.
    for name in ("explain", "k6"):
        assert run_check(name, config, tmp_path / "reports", repo).status is Status.ERROR


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    repo = _express_repo(tmp_path / "api")
    (repo / "configs").mkdir()
    (repo / "configs" / "readiness.yaml").write_text("mine\n")
    assert main(["init", str(repo)]) == 3
    assert (repo / "configs" / "readiness.yaml").read_text() == "mine\n"
    assert main(["init", str(repo), "--force"]) == 0
    assert "npx" in (repo / "configs" / "readiness.yaml").read_text()


def test_without_a_k6_script_a_skeleton_is_written_from_the_spec_and_k6_can_read_it(tmp_path: Path) -> None:
    repo = tmp_path / "svc"
    _fastapi_repo(repo)
    (repo / "openapi.json").write_text(json.dumps({"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
                                                   "paths": {"/items": {"get": {"operationId": "list_items"},
                                                                        "post": {"requestBody": {}}},
                                                             "/items/{id}": {"get": {}}}}))
    assert main(["init", str(repo)]) == 0
    script = (repo / "configs" / "k6" / "load.js").read_text()
    assert "call('get', '/items', 'list_items');" in script
    assert "// TODO: POST /items" in script and "// TODO: GET /items/{id}" in script
    assert "script: configs/k6/load.js" in (repo / "configs" / "readiness.yaml").read_text()
    config = load_config(repo / "configs" / "readiness.yaml")  # every check that reads the spec gets the file
    assert {name: check_settings(config, name).model_dump()["spec"] for name in ("openapi", "api", "slo", "docs")} \
        == dict.fromkeys(("openapi", "api", "slo", "docs"), "openapi.json")
    k6 = shutil.which("k6") or str(Path(sys.executable).parent / "k6")
    if Path(k6).is_file():  # k6's own parser accepts the script (inspect does not run it)
        done = subprocess.run([k6, "inspect", str(repo / "configs" / "k6" / "load.js")], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    (repo / "configs" / "k6" / "load.js").write_text("// mine\n")
    assert main(["init", str(repo), "--force"]) == 0  # --force is for the config: a script is never replaced
    assert (repo / "configs" / "k6" / "load.js").read_text() == "// mine\n"


def test_a_service_in_a_workspace_folder_is_found_with_its_coverage_py_suite(tmp_path: Path) -> None:
    # The full-stack template's shape: a uv workspace whose member backend/ is the service, uv.lock at the top,
    # coverage.py without pytest-cov, a health route under a prefix.
    repo = tmp_path / "stack"
    (repo / "backend" / "app" / "api").mkdir(parents=True)
    (repo / "pyproject.toml").write_text('[tool.uv.workspace]\nmembers = ["backend"]\n')
    shutil.copy(LOCKS / "uv" / "uv.lock", repo / "uv.lock")
    (repo / "backend" / "pyproject.toml").write_text('[project]\nname = "app"\ndependencies = ["fastapi"]\n'
                                                     '[dependency-groups]\ndev = ["pytest", "coverage"]\n')
    (repo / "backend" / "alembic.ini").write_text("[alembic]\n")
    (repo / "backend" / "app" / "main.py").write_text("from fastapi import FastAPI\napp = FastAPI()\n")
    (repo / "backend" / "app" / "api" / "utils.py").write_text('@router.get("/health-check/")\ndef h(): ...\n')
    facts = inspect(repo)
    assert (facts.workdir, facts.framework, facts.test_runner, facts.app) == ("backend", "FastAPI", "coverage",
                                                                               "app.main:app")
    assert facts.lock_files == ["uv.lock"] and facts.health_hints == ["/health-check/"]
    assert main(["init", str(repo)]) == 0
    config = load_config(repo / "configs" / "readiness.yaml")
    start = config.service["start"]
    assert start["workdir"] == "backend" and start["setup"] == [
        ["uv", "run", "--frozen", "python", "-m", "alembic", "upgrade", "head"]]
    coverage = check_settings(config, "coverage").model_dump()
    shell = coverage["command"][2]  # coverage.py writes its XML in a second step; the tests' status is kept
    assert coverage["cwd"] == "backend" and "--junitxml=../reports/evidence/junit.xml; status=$?" in shell
    assert shell.endswith("coverage xml -o ../reports/evidence/coverage.xml; exit $status")
    assert coverage["cobertura"] == "reports/evidence/coverage.xml"
    assert "/health-check/" in (repo / "configs" / "readiness.yaml").read_text()  # named in the TODO


@pytest.mark.parametrize("kind", ["flyway", "sql"])
def test_sql_migrations_become_psql_setup_commands_in_order(tmp_path: Path, kind: str) -> None:
    repo = tmp_path / "svc"
    folder = repo / ("src/main/resources/db/migration" if kind == "flyway" else "db/migrations")
    folder.mkdir(parents=True)
    (repo / "package.json").write_text(json.dumps({"name": "api", "dependencies": {"express": "4"}}))
    names = ["V1__init.sql", "V2__users.sql", "V10__index.sql", "V1_1__fix.sql"] if kind == "flyway" else \
        ["002_users.up.sql", "001_init.up.sql", "001_init.down.sql", "003_index.sql"]
    for name in names:
        (folder / name).write_text("SELECT 1;\n")
    assert main(["init", str(repo)]) == 0
    setup = load_config(repo / "configs" / "readiness.yaml").service["start"]["setup"]
    order = ["V1__init.sql", "V1_1__fix.sql", "V2__users.sql", "V10__index.sql"] if kind == "flyway" else \
        ["001_init.up.sql", "002_users.up.sql", "003_index.sql"]  # numeric versions; down files never applied
    assert [Path(argv[-1]).name for argv in setup] == order
    assert setup[0][:-1] == ["psql", "-v", "ON_ERROR_STOP=1", "-h", "{db_host}", "-p", "{db_port}", "-U",
                             "{db_user}", "-d", "{db_name}", "-f"]
    assert all("{db_password}" not in arg for argv in setup for arg in argv)  # PGPASSWORD, never in argv


def test_an_express_app_without_a_start_script_is_a_todo_and_its_npm_migration_script_is_used(
        tmp_path: Path) -> None:
    # The Node service of docs/tried-on.md: sequelize-cli behind `npm run db:migrate`, started by `node start.js`.
    repo = tmp_path / "api"
    repo.mkdir()
    (repo / "package.json").write_text(json.dumps({"name": "api", "scripts": {"test": "jest", "db:migrate": "x"},
                                                   "dependencies": {"express": "4", "sequelize": "6"},
                                                   "devDependencies": {"sequelize-cli": "6", "jest": "29"}}))
    assert inspect(repo).migrations == "sequelize"
    assert main(["init", str(repo)]) == 0
    start = load_config(repo / "configs" / "readiness.yaml").service["start"]
    assert start["setup"] == [["npm", "run", "db:migrate"]]
    assert start["command"][0] == "node" and "TODO" in start["command"][1]  # never `npm start` that is not there


def test_the_psql_setup_init_writes_migrates_the_gates_database_in_order(tmp_path: Path) -> None:
    import psycopg

    from pipeline.target import running_target
    from tests.conftest import need_tool

    need_tool("psql")
    repo = tmp_path / "svc"
    (repo / "db" / "migrations").mkdir(parents=True)
    (repo / "package.json").write_text(json.dumps({"name": "api", "dependencies": {"express": "4"}}))
    (repo / "db" / "migrations" / "001_init.up.sql").write_text("CREATE TABLE a (id int PRIMARY KEY);\n")
    (repo / "db" / "migrations" / "001_init.down.sql").write_text("DROP TABLE a;\n")
    (repo / "db" / "migrations" / "002_b.up.sql").write_text("CREATE TABLE b (a_id int REFERENCES a);\n")
    assert main(["init", str(repo)]) == 0
    start = load_config(repo / "configs" / "readiness.yaml").service["start"]
    settings = {"database": "postgres", "setup": start["setup"], "ready_path": "/",
                "command": [sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1"]}
    with running_target(settings, repo, tmp_path / "evidence") as target, \
            psycopg.connect(target.env["READINESS_DATABASE_URL"]) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").fetchall()
    assert tables == [("a",), ("b",)]  # b references a: applied in order, the down file never
