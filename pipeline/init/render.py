"""The starter config as text: one block per part, a comment on each choice, TODO where init cannot know."""

from __future__ import annotations

import json

from pipeline.init.inspect import Facts

TODO = "TODO"
EVIDENCE = "reports/evidence"
SERVE = {  # framework -> the command that starts it on {port} ({py}: its Python), and whether a part is a guess
    "FastAPI": (["{py}", "-m", "uvicorn", "{app}", "--host", "127.0.0.1", "--port", "{port}"], True),
    "Flask": (["{py}", "-m", "flask", "--app", "{app}", "run", "--host", "127.0.0.1", "--port", "{port}"], True),
    "Django": (["{py}", "manage.py", "runserver", "127.0.0.1:{port}", "--noreload"], False),
    "Express": (["npm", "start"], False),
    "NestJS": (["npm", "run", "start:prod"], False),
    "Spring Boot": (["./mvnw", "spring-boot:run", "-Dspring-boot.run.arguments=--server.port={port}"], False),
}
MIGRATE = {
    "alembic": ["{py}", "-m", "alembic", "upgrade", "head"],
    "django": ["{py}", "manage.py", "migrate", "--noinput"],
    "prisma": ["npx", "prisma", "migrate", "deploy"],
    "knex": ["npx", "knex", "migrate:latest"],
    "sequelize": ["npx", "sequelize-cli", "db:migrate"],
}
NPM_MIGRATE = ("migrate", "db:migrate", "migrate:latest", "migration:run", "migrate:deploy")  # npm run <one>
# Flyway and plain SQL folders: each file once, in order, with psql against the gate's database (PGPASSWORD
# comes from the environment, so the password is never in a command line).
PSQL = ["psql", "-v", "ON_ERROR_STOP=1", "-h", "{db_host}", "-p", "{db_port}", "-U", "{db_user}", "-d", "{db_name}",
        "-f"]
TESTS = {  # runner -> (command, the Cobertura file it writes, JUnit file or None); {out}: the evidence folder
    "pytest-cov": (["{py}", "-m", "pytest", "--cov", "--cov-branch", "--cov-report=xml:{out}/coverage.xml",
                    "--junitxml={out}/junit.xml"], "coverage.xml", "junit.xml"),
    # coverage.py alone writes its XML in a second step; the tests' exit code is the one kept.
    "coverage": (["sh", "-c", "{py} -m coverage run -m pytest --junitxml={out}/junit.xml; status=$?; "
                  "{py} -m coverage xml -o {out}/coverage.xml; exit $status"], "coverage.xml", "junit.xml"),
    "jest": (["npx", "jest", "--coverage", "--coverageReporters=cobertura", "--coverageDirectory={out}"],
             "cobertura-coverage.xml", None),
    "vitest": (["npx", "vitest", "run", "--coverage", "--coverage.reporter=cobertura",
                "--coverage.reportsDirectory={out}"], "cobertura-coverage.xml", None),
}


def _fill(argv: list[str], values: dict[str, str]) -> list[str]:
    """A template command with init's own {py}, {app}, {out} filled in (the gate's {port}, {db_*} stay)."""
    out = []
    for arg in argv:
        for key, value in values.items():
            arg = arg.replace(key, value)
        out.append(arg)
    return out


def _values(facts: Facts, gate_python: str = "{python}") -> dict[str, str]:
    """``gate_python``: what names the gate's interpreter where no runner is (the test command has no {python})."""
    up = "../" * len([p for p in facts.workdir.split("/") if p])
    python = " ".join(facts.runner) + " python" if facts.runner else gate_python
    return {"{py}": python, "{app}": facts.app or "TODO_module:app", "{out}": f"{up}{EVIDENCE}"}


def render(facts: Facts) -> str:
    """The config text: valid for the gate as written, with every unknown a TODO that cannot pass."""
    described = ", ".join(p for p in (facts.framework, facts.language) if p) or "framework not recognised"
    head = [f"# Starter config written by `readiness init` for {facts.name} ({described}).",
            "# Every TODO marks what init could not tell from the files. Until it is resolved the check it",
            "# belongs to is an error (verdict incomplete), never a pass. Tutorial: docs/gate-your-service.md.",
            "version: 1"]
    return "\n".join([*head, *_service(facts), "checks:", *_coverage(facts), *_openapi(facts), *_audit(facts),
                      *_k6(facts), *_explain(), *_dashboards(facts)]) + "\n"


def _flow(value: object) -> str:
    return json.dumps(value)


def _service(facts: Facts) -> list[str]:
    values = _values(facts)
    template, guessed = SERVE.get(facts.framework, (["TODO: the command that starts your service on {port}"], True))
    if template[0] == "npm" and template[-1] not in facts.scripts:  # no such script: say so, never a guess
        template, guessed = ["node", "TODO: the entry file (package.json has no start script)"], True
    command = _split_py(_fill(template, values))
    guessed = guessed and not facts.app
    script = next((name for name in NPM_MIGRATE if name in facts.scripts), "")
    migrate = [["npm", "run", script]] if script else \
        [_split_py(_fill(MIGRATE[facts.migrations], values))] if facts.migrations in MIGRATE else \
        [[*PSQL, f] for f in facts.sql_files]
    ready = next((p for p in ("/ready", "/readyz", "/health", "/healthz") if p in facts.health_paths), "")
    hints = f"; routes that look like one: {', '.join(facts.health_hints)}" if facts.health_hints else ""
    lines = ["service:", f"  name: {_flow(facts.name)}",
             "  base_url: \"${READINESS_BASE_URL:-http://127.0.0.1:8000}\"   # every check that talks to the "
             "service goes here",
             "  start:                          # the gate starts PostgreSQL, migrates, starts the service",
             "    database: postgres            # DATABASE_URL, PGHOST... and {db_host}... for setup and command",
             *([f"    workdir: {facts.workdir}             # the service's folder"] if facts.workdir else []),
             f"    setup: {_flow(migrate)}" + (
                 f"   # {facts.migrations or 'npm run ' + script} migrations" +
                 (", each file in order with psql" if facts.sql_files else "")
                 if migrate else f"   # TODO: the migration command ({facts.migrations or 'none found'})"),
             f"    command: {_flow(command)}" + ("   # TODO: check the module/entry point" if guessed else
                                                 f"   # {facts.framework}: check it"),
             f"    ready_path: {ready or '/ready'}" + ("" if ready else f"   # TODO: no /ready or /health route found"
                                                                         f"{hints}"),
             "    # env: {POSTGRES_SERVER: \"{db_host}\", POSTGRES_PASSWORD: \"{db_password}\"}   # your own names"]
    return lines


def _split_py(argv: list[str]) -> list[str]:
    """``uv run --frozen python`` filled into one argument becomes its words (a shell command keeps it whole)."""
    return [word for arg in argv for word in (arg.split(" ") if arg.endswith(" python") else [arg])]


def _coverage(facts: Facts) -> list[str]:
    known = TESTS.get(facts.test_runner)
    cwd = [f"    cwd: {facts.workdir}"] if facts.workdir else []
    if known is None:
        return ["  coverage:", *cwd,
                f"    # TODO: the test command ({facts.test_runner or 'no runner recognised'}) and the Cobertura/LCOV "
                "file it writes;",
                "    # until then this check is an error (nothing configured to read)",
                "    database: fresh"]
    template, cobertura, junit = known
    command = _split_py(_fill(template, _values(facts, "python")))
    return ["  coverage:", *cwd, f"    command: {_flow(command)}", f"    cobertura: {EVIDENCE}/{cobertura}",
            *([f"    junit: [{EVIDENCE}/{junit}]"] if junit else []),
            "    database: fresh                # a migrated database of its own for the test suite",
            "    # env: {POSTGRES_SERVER: \"{db_host}\", ...}   # the suite's own names for that database",
            "    min_line_rate: 0.90"]


def _openapi(facts: Facts) -> list[str]:
    if facts.openapi:  # the checks that drive or compare with the API read the same file
        return ["  openapi:", f"    spec: {facts.openapi}",
                *(f"  {name}: {{spec: {facts.openapi}}}" for name in ("api", "docs")), *_slo(facts)]
    if facts.framework == "FastAPI":
        return ["  openapi:", "    spec: \"${READINESS_BASE_URL:-http://127.0.0.1:8000}/openapi.json\"   # FastAPI "
                "serves it",
                "    # TODO: api, slo and docs read a spec file: export it (docs/gate-your-service.md, step 2) and",
                "    # name it here and in api: {spec: ...}, slo: {spec: ...}, docs: {spec: ...}"]
    return ["  openapi: {}", "    # TODO: spec: the OpenAPI file (none found), or the URL the service serves it at"]


def _slo(facts: Facts) -> list[str]:
    """slo compares the spec's x-sla with the alerts and panels: yours, never the gate's example layout."""
    files = [f"    alert_rule_files: {_flow(facts.alert_rules)}"] if facts.alert_rules else \
        ["    # TODO: alert_rule_files: your Prometheus rule files (none found; the default is the gate's example)"]
    files += [f"    dashboard_files: {_flow(facts.dashboards)}"] if facts.dashboards else \
        ["    # TODO: dashboard_files: your Grafana dashboards (none found; the default is the gate's example)"]
    return ["  slo:", f"    spec: {facts.openapi}", *files]


def _audit(facts: Facts) -> list[str]:
    if not facts.lock_files:
        return ["  audit: {}", "    # TODO: lock_files: [...] (no lock file found); osv_dir for an offline audit"]
    return ["  audit:", f"    lock_files: {_flow(facts.lock_files)}",
            "    dev_dependencies: report       # dev-only packages shown, not gated (gate: they count too)",
            "    fail_at: high"]


def _k6(facts: Facts) -> list[str]:
    if facts.k6_scripts:
        return ["  k6:", f"    script: {facts.k6_scripts[0]}"]
    return ["  k6: {}", "    # TODO: script: a k6 script (none found) tagged per endpoint; BASE_URL is given to it"]


def _explain() -> list[str]:
    return ["  explain: {}", "    # TODO: the critical queries, e.g.",
            "    # queries: [{name: orders_by_customer, sql: \"SELECT ... WHERE customer_id = :id\", params: {id: 1}}]"]


def _dashboards(facts: Facts) -> list[str]:
    keys = [f"    dashboard_files: {_flow(facts.dashboards)}"] if facts.dashboards else []
    keys += [f"    alert_rule_files: {_flow(facts.alert_rules)}"] if facts.alert_rules else []
    todo = ["    # TODO: dashboard_files: Grafana dashboard JSON (none found)"] if not facts.dashboards else []
    todo += ["    # TODO: alert_rule_files: Prometheus rule files (none found)"] if not facts.alert_rules else []
    return ["  dashboards:" if keys else "  dashboards: {}", *keys, *todo]
