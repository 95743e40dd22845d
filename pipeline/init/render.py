"""The starter config as text: one block per part, a comment on each choice, TODO where init cannot know."""

from __future__ import annotations

import json

from pipeline.init.inspect import Facts

TODO = "TODO"
EVIDENCE = "reports/evidence"
SERVE = {  # framework -> the command that starts it on {port}, and whether a part of it is a guess
    "FastAPI": (["{python}", "-m", "uvicorn", "TODO_module:app", "--host", "127.0.0.1", "--port", "{port}"], True),
    "Flask": (["{python}", "-m", "flask", "--app", "TODO_module", "run", "--host", "127.0.0.1", "--port", "{port}"],
              True),
    "Django": (["{python}", "manage.py", "runserver", "127.0.0.1:{port}", "--noreload"], False),
    "Express": (["npm", "start"], False),
    "NestJS": (["npm", "run", "start:prod"], False),
    "Spring Boot": (["./mvnw", "spring-boot:run", "-Dspring-boot.run.arguments=--server.port={port}"], False),
}
MIGRATE = {
    "alembic": ["alembic", "upgrade", "head"],
    "django": ["{python}", "manage.py", "migrate", "--noinput"],
    "prisma": ["npx", "prisma", "migrate", "deploy"],
    "knex": ["npx", "knex", "migrate:latest"],
}
TESTS = {  # runner -> (command, the Cobertura file it writes, JUnit file or None)
    "pytest-cov": (["python", "-m", "pytest", "--cov", "--cov-branch", f"--cov-report=xml:{EVIDENCE}/coverage.xml",
                    f"--junitxml={EVIDENCE}/junit.xml"], f"{EVIDENCE}/coverage.xml", f"{EVIDENCE}/junit.xml"),
    "jest": (["npx", "jest", "--coverage", "--coverageReporters=cobertura", f"--coverageDirectory={EVIDENCE}"],
             f"{EVIDENCE}/cobertura-coverage.xml", None),
    "vitest": (["npx", "vitest", "run", "--coverage", "--coverage.reporter=cobertura",
                f"--coverage.reportsDirectory={EVIDENCE}"], f"{EVIDENCE}/cobertura-coverage.xml", None),
}


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
    command, guessed = SERVE.get(facts.framework, (["TODO: the command that starts your service on {port}"], True))
    migrate = MIGRATE.get(facts.migrations)
    ready = next((p for p in ("/ready", "/readyz", "/health", "/healthz") if p in facts.health_paths), "")
    lines = ["service:", f"  name: {_flow(facts.name)}",
             "  base_url: \"${READINESS_BASE_URL:-http://127.0.0.1:8000}\"   # every check that talks to the "
             "service goes here",
             "  start:                          # the gate starts PostgreSQL, migrates, starts the service",
             "    database: postgres            # DATABASE_URL, PGHOST... and {db_host}... for setup and command",
             f"    setup: {_flow([migrate] if migrate else [])}" + (
                 f"   # {facts.migrations} migrations" if migrate else
                 f"   # TODO: the migration command ({facts.migrations or 'none found'})"),
             f"    command: {_flow(command)}" + ("   # TODO: check the module/entry point" if guessed else
                                                 f"   # {facts.framework}: check it"),
             f"    ready_path: {ready or '/ready'}" + ("" if ready else "   # TODO: no /ready or /health route found"),
             "    # env: {POSTGRES_SERVER: \"{db_host}\", POSTGRES_PASSWORD: \"{db_password}\"}   # your own names"]
    return lines


def _coverage(facts: Facts) -> list[str]:
    known = TESTS.get(facts.test_runner)
    if known is None:
        return ["  coverage:",
                f"    # TODO: the test command ({facts.test_runner or 'no runner recognised'}) and the Cobertura/LCOV "
                "file it writes;",
                "    # until then this check is an error (nothing configured to read)",
                "    database: fresh"]
    command, cobertura, junit = known
    return ["  coverage:", f"    command: {_flow(command)}", f"    cobertura: {cobertura}",
            *([f"    junit: [{junit}]"] if junit else []),
            "    database: fresh                # a migrated database of its own for the test suite",
            "    min_line_rate: 0.90"]


def _openapi(facts: Facts) -> list[str]:
    if facts.openapi:
        return ["  openapi:", f"    spec: {facts.openapi}"]
    if facts.framework == "FastAPI":
        return ["  openapi:", "    spec: \"${READINESS_BASE_URL:-http://127.0.0.1:8000}/openapi.json\"   # FastAPI "
                "serves it"]
    return ["  openapi: {}", "    # TODO: spec: the OpenAPI file (none found), or the URL the service serves it at"]


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
