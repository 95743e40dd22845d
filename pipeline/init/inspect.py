"""What a repository's own files say about how to gate it; nothing here runs anything."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.checks.audit.lockfiles import READERS

SKIP = {".git", "node_modules", ".venv", "venv", "__pycache__", "dist", "build", "reports", ".tox", ".nox"}
MAX_FILES = 5000  # a monorepo is not walked to its end: what init missed is a TODO, not a guess
PYTHON_FRAMEWORKS = (("fastapi", "FastAPI"), ("flask", "Flask"), ("django", "Django"))
NODE_FRAMEWORKS = (("@nestjs/core", "NestJS"), ("express", "Express"))
MANIFESTS = {"pyproject.toml", "requirements.txt", "setup.cfg", "Pipfile", "package.json", "manage.py"}
FLYWAY = re.compile(r"V(\d+(?:[._]\d+)*)__.+\.sql")


@dataclass
class Facts:
    """Everything ``render`` needs, each a relative POSIX path or a name; empty when not found."""

    name: str
    workdir: str = ""  # the service's folder when it is not the repository's top (a uv workspace member...)
    runner: tuple[str, ...] = ()  # what runs the service's Python tools: uv run, poetry run; () the gate's
    app: str = ""  # module:variable of the FastAPI/Flask application
    language: str = ""  # python | node | java
    framework: str = ""
    test_runner: str = ""  # pytest-cov | coverage | jest | vitest | nyc | jacoco
    migrations: str = ""  # alembic | django | prisma | knex | flyway | sql
    sql_files: list[str] = field(default_factory=list)  # flyway / plain SQL migrations, in the order to apply
    openapi: str = ""
    lock_files: list[str] = field(default_factory=list)
    k6_scripts: list[str] = field(default_factory=list)
    dashboards: list[str] = field(default_factory=list)
    alert_rules: list[str] = field(default_factory=list)
    health_paths: list[str] = field(default_factory=list)
    health_hints: list[str] = field(default_factory=list)  # routes that look like health checks, maybe prefixed
    scripts: list[str] = field(default_factory=list)  # package.json's script names (npm run ...)


def inspect(repo: Path) -> Facts:
    """The facts of ``repo`` (its files only; nothing is run or imported)."""
    files = _files(repo)
    facts = Facts(name=repo.resolve().name)
    service = _service_dir(repo, files)
    facts.workdir = "" if service == repo else service.relative_to(repo).as_posix()
    _stack(service, {f.name for f in files if service in f.parents}, facts)
    facts.migrations = _migrations(service, {f.name for f in files}, files, _package_json(service))
    facts.sql_files = _sql_files(files, service, facts.migrations)
    # Lock files at the top and in the service's folder, and pinned requirements files (pip-tools, pip freeze).
    facts.lock_files = sorted(f.relative_to(repo).as_posix() for f in files if f.parent in (repo, service) and (
        f.name in READERS or (re.fullmatch(r"requirements.*\.txt", f.name) is not None
                              and re.search(r"^[A-Za-z0-9_.\[\],-]+==", _read(f), re.MULTILINE) is not None)))
    locks = {Path(f).name for f in facts.lock_files}
    facts.runner = ("uv", "run", "--frozen") if "uv.lock" in locks else ("poetry", "run") if "poetry.lock" in locks \
        else ()
    facts.openapi = next((f.relative_to(repo).as_posix() for f in files
                          if re.fullmatch(r"(openapi|swagger)\.(json|ya?ml)", f.name)), "")
    for f in files:
        relative = f.relative_to(repo).as_posix()
        if f.suffix == ".js" and "k6/http" in _read(f):
            facts.k6_scripts.append(relative)
        elif f.suffix == ".json" and '"panels"' in _read(f):
            facts.dashboards.append(relative)
        elif f.suffix in (".yml", ".yaml") and re.search(r"^\s*-?\s*alert:", _read(f), re.MULTILINE):
            facts.alert_rules.append(relative)
    sources = [f for f in files if f.suffix in (".py", ".js", ".ts", ".java")]
    routes = {path for f in sources for path in re.findall(r"[\"'](/[\w/-]*(?:health|ready|live)[\w/-]*)[\"']",
                                                           _read(f))}
    facts.health_paths = sorted(p for p in routes if re.fullmatch(r"/(health|ready|healthz|readyz|livez)", p))
    facts.health_hints = sorted(routes - set(facts.health_paths))[:5]
    facts.app = _application(service, sources, facts.framework)
    return facts


def _stack(service: Path, names: set[str], facts: Facts) -> None:
    """Language, framework and test runner from the service folder's manifests."""
    manifest = _manifest(service)
    package = _package_json(service)
    if manifest or "manage.py" in names:
        facts.language = "python"
        facts.framework = next((label for key, label in PYTHON_FRAMEWORKS if re.search(rf"\b{key}\b", manifest)), "")
        facts.test_runner = "pytest-cov" if "pytest-cov" in manifest else "coverage" if "coverage" in manifest else ""
    elif package:
        facts.scripts = sorted(_package_data(service).get("scripts") or {})
        facts.language = "node"
        facts.framework = next((label for key, label in NODE_FRAMEWORKS if key in package), "")
        facts.test_runner = next((r for r in ("vitest", "jest", "nyc") if r in package), "")
    elif {"pom.xml", "build.gradle", "build.gradle.kts"} & names:
        facts.language, facts.framework = "java", "Spring Boot" if "spring-boot" in _java_build(service) else ""
        facts.test_runner = "jacoco" if "jacoco" in _java_build(service) else ""


def _manifest(folder: Path) -> str:
    return " ".join(_read(folder / m).lower() for m in ("pyproject.toml", "requirements.txt", "setup.cfg",
                                                        "Pipfile", "requirements-dev.txt") if (folder / m).is_file())


def _service_dir(repo: Path, files: list[Path]) -> Path:
    """The repository's top, unless only a folder one level down names a framework (backend/, api/...)."""
    def framework(folder: Path) -> bool:
        text = _manifest(folder) + " " + _package_json(folder).lower()
        return any(re.search(rf"\b{re.escape(key)}\b", text) for key, _ in (*PYTHON_FRAMEWORKS, *NODE_FRAMEWORKS))

    if framework(repo):
        return repo
    below = sorted({f.parent for f in files if f.parent.parent == repo and f.name in MANIFESTS})
    return next((folder for folder in below if framework(folder)), repo)


def _application(service: Path, sources: list[Path], framework: str) -> str:
    """``module:variable`` of the FastAPI or Flask application object, when one file makes it."""
    if framework not in ("FastAPI", "Flask"):
        return ""
    for f in sources:
        found = re.search(rf"^(\w+)\s*=\s*{framework}\(", _read(f), re.MULTILINE) if f.suffix == ".py" else None
        if found and service in f.parents:
            return ".".join(f.relative_to(service).with_suffix("").parts) + ":" + found.group(1)
    return ""


def _files(repo: Path) -> list[Path]:
    found: list[Path] = []
    for path in sorted(repo.rglob("*")):
        if len(found) >= MAX_FILES:
            break
        if path.is_file() and not SKIP & set(path.relative_to(repo).parts):
            found.append(path)
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[:200_000]
    except OSError:
        return ""


def _package_data(repo: Path) -> dict[str, Any]:
    try:
        data = json.loads(_read(repo / "package.json") or "{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) and isinstance(data.get("scripts", {}), dict) else {}


def _package_json(repo: Path) -> str:
    """The dependency names of package.json (all kinds), as one text; empty without one."""
    data = _package_data(repo)
    return " ".join(str(name) for key in ("dependencies", "devDependencies") if isinstance(data.get(key), dict)
                    for name in data[key])


def _java_build(repo: Path) -> str:
    return " ".join(_read(repo / m) for m in ("pom.xml", "build.gradle", "build.gradle.kts"))


def _migrations(repo: Path, names: set[str], files: list[Path], package: str) -> str:
    if "alembic.ini" in names:
        return "alembic"
    if (repo / "manage.py").is_file():
        return "django"
    if "prisma" in package and any(f.name == "schema.prisma" for f in files):
        return "prisma"
    if "knex" in package:
        return "knex"
    if "sequelize-cli" in package:
        return "sequelize"
    if any(FLYWAY.fullmatch(f.name) for f in files):
        return "flyway"
    return "sql" if any(f.suffix == ".sql" and "migration" in f.as_posix().lower() for f in files) else ""


def _sql_files(files: list[Path], service: Path, kind: str) -> list[str]:
    """Flyway's versioned files in version order, or a migrations folder's up files by name; relative to service."""
    if kind == "flyway":
        found = [(tuple(int(n) for n in re.split(r"[._]", m.group(1))), f) for f in files
                 if (m := FLYWAY.fullmatch(f.name))]
        ordered = [f for _, f in sorted(found, key=lambda pair: (pair[0], pair[1].name))]
    elif kind == "sql":
        ordered = sorted((f for f in files if f.suffix == ".sql" and "migration" in f.as_posix().lower()
                          and not re.search(r"(^|[._-])(down|rollback|undo)([._-]|$)", f.stem.lower())),
                         key=lambda f: (f.parent.as_posix(), f.name))
    else:
        return []
    return [os.path.relpath(f, service) for f in ordered]
