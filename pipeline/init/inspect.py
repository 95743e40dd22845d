"""What a repository's own files say about how to gate it; nothing here runs anything."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.checks.audit.lockfiles import READERS

SKIP = {".git", "node_modules", ".venv", "venv", "__pycache__", "dist", "build", "reports", ".tox", ".nox"}
MAX_FILES = 5000  # a monorepo is not walked to its end: what init missed is a TODO, not a guess
PYTHON_FRAMEWORKS = (("fastapi", "FastAPI"), ("flask", "Flask"), ("django", "Django"))
NODE_FRAMEWORKS = (("@nestjs/core", "NestJS"), ("express", "Express"))


@dataclass
class Facts:
    """Everything ``render`` needs, each a relative POSIX path or a name; empty when not found."""

    name: str
    language: str = ""  # python | node | java
    framework: str = ""
    test_runner: str = ""  # pytest-cov | coverage | jest | vitest | nyc | jacoco
    migrations: str = ""  # alembic | django | prisma | knex | flyway | sql
    openapi: str = ""
    lock_files: list[str] = field(default_factory=list)
    k6_scripts: list[str] = field(default_factory=list)
    dashboards: list[str] = field(default_factory=list)
    alert_rules: list[str] = field(default_factory=list)
    health_paths: list[str] = field(default_factory=list)


def inspect(repo: Path) -> Facts:
    """The facts of ``repo`` (its files only; nothing is run or imported)."""
    files = _files(repo)
    names = {f.name for f in files}
    facts = Facts(name=repo.resolve().name)
    manifest = " ".join(_read(repo / m).lower() for m in ("pyproject.toml", "requirements.txt", "setup.cfg",
                                                          "Pipfile", "requirements-dev.txt") if (repo / m).is_file())
    package = _package_json(repo)
    if manifest or "manage.py" in names:
        facts.language = "python"
        facts.framework = next((label for key, label in PYTHON_FRAMEWORKS if re.search(rf"\b{key}\b", manifest)), "")
        facts.test_runner = "pytest-cov" if "pytest-cov" in manifest else "coverage" if "coverage" in manifest else ""
    elif package:
        facts.language = "node"
        facts.framework = next((label for key, label in NODE_FRAMEWORKS if key in package), "")
        facts.test_runner = next((r for r in ("vitest", "jest", "nyc") if r in package), "")
    elif {"pom.xml", "build.gradle", "build.gradle.kts"} & names:
        facts.language, facts.framework = "java", "Spring Boot" if "spring-boot" in _java_build(repo) else ""
        facts.test_runner = "jacoco" if "jacoco" in _java_build(repo) else ""
    facts.migrations = _migrations(repo, names, files, package)
    # Lock files at the top, and pinned requirements files (pip-tools, pip freeze: name==version lines).
    facts.lock_files = sorted(f.relative_to(repo).as_posix() for f in files if f.parent == repo and (
        f.name in READERS or (re.fullmatch(r"requirements.*\.txt", f.name) is not None
                              and re.search(r"^[A-Za-z0-9_.\[\],-]+==", _read(f), re.MULTILINE) is not None)))
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
    facts.health_paths = sorted({path for f in sources for path in re.findall(r"[\"'](/(?:health|ready|healthz|"
                                                                              r"readyz|livez))[\"']", _read(f))})
    return facts


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


def _package_json(repo: Path) -> str:
    """The dependency names of package.json (all kinds), as one text; empty without one."""
    try:
        data = json.loads(_read(repo / "package.json") or "{}")
    except json.JSONDecodeError:
        return ""
    if not isinstance(data, dict):
        return ""
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
    if any(re.fullmatch(r"V\d+__.+\.sql", f.name) for f in files):
        return "flyway"
    return "sql" if any(f.suffix == ".sql" and "migration" in f.as_posix().lower() for f in files) else ""
