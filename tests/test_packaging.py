"""Packaging: what pyproject.toml promises (dependency groups, extras) and what a missing extra does."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_extras_for_older_tools_mirror_the_dependency_groups() -> None:
    extras, groups = PROJECT["project"]["optional-dependencies"], PROJECT["dependency-groups"]
    for name in ("test", "lint", "fuzz"):
        assert set(extras[name]) - {"readiness-gate[checks]"} == set(groups[name]), name
    assert extras["checks"] == ["readiness-gate[load,audit,explain,openapi,schema,api]"]
    assert {"explain", "openapi", "load", "audit"} <= set(extras)


def test_the_gate_never_imports_nox() -> None:
    # nox is a development tool (dependency group `test`), not a runtime dependency.
    assert not any(d.startswith("nox") for d in PROJECT["project"]["dependencies"])
    for path in (ROOT / "pipeline").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] != "nox" for a in node.names), path
            elif isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] != "nox", path


@pytest.mark.parametrize(("check", "module", "hint"), [
    ("audit", "cvss", "pip install 'readiness-gate[audit]'"),
    ("explain", "pglast", "pip install 'readiness-gate["),
])
def test_a_check_whose_dependency_is_missing_is_an_error_that_names_what_to_install(
        tmp_path: Path, check: str, module: str, hint: str) -> None:
    (tmp_path / "readiness.yaml").write_text("version: 1\nchecks: {}\n")
    # The module is made unimportable, as it is when the extra was not installed.
    code = (f"import sys; sys.modules[{module!r}] = None\nfrom pipeline._cli import main\n"
            f"raise SystemExit(main(['check', {check!r}, '--config', 'readiness.yaml']))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    written = json.loads((tmp_path / "reports" / "results" / f"{check}.json").read_text())
    assert written["status"] == "error"
    assert f"the {check} check cannot load in this environment" in written["summary"]
    assert any(hint in reason for reason in written["reasons"]), written["reasons"]
