"""docs/adding-a-check.md, followed word for word in a copy of the project.

The page's fenced blocks say where they go (``file=...`` or ``section=...``). The test
writes them into a copy, then asserts that exactly four files changed and that the new
check is seen everywhere the issue names: its own tests, ``readiness checks``, ``nox -l``,
``readiness run`` in its place, a waiver for it, and the SARIF export.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

DOC = REPO / "docs" / "adding-a-check.md"
# What a contributor's copy needs: the package, its tests' helpers, the config, the docs, the noxfile.
COPIED = ("pipeline", "tests/__init__.py", "tests/conftest.py", "tests/checks/__init__.py", "configs", "docs",
          "README.md", "noxfile.py", "pyproject.toml")
BLOCK = re.compile(r"^```\w+ (?P<where>file|section)=(?P<target>\S+)\n(?P<body>.*?)^```$", re.M | re.S)


def _copy_project(into: Path) -> None:
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)


def _follow_the_doc(project: Path) -> None:
    blocks = list(BLOCK.finditer(DOC.read_text(encoding="utf-8")))
    assert len(blocks) == 4, "the page shows the four files a check takes"
    for block in blocks:
        target, body = block["target"], block["body"]
        if block["where"] == "file":
            (project / target).parent.mkdir(parents=True, exist_ok=True)
            (project / target).write_text(body, encoding="utf-8")
        elif target == "README":
            readme = project / "README.md"
            readme.write_text(readme.read_text(encoding="utf-8") + "\n" + body, encoding="utf-8")
        else:  # a config section: indented under its key, right after `checks:`
            config = project / "configs" / "readiness.yaml"
            key = target.split(".")[-1]
            lines = "".join(f"    {line}\n" for line in body.splitlines())
            text = config.read_text(encoding="utf-8")
            config.write_text(text.replace("\nchecks:\n", f"\nchecks:\n  {key}:\n{lines}", 1), encoding="utf-8")


def _changed(project: Path) -> list[str]:
    changed = []
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project)
        if path.is_dir() or "__pycache__" in relative.parts or relative.parts[0] in ("reports", ".nox"):
            continue
        original = REPO / relative
        if not original.is_file() or original.read_bytes() != path.read_bytes():
            changed.append(str(relative))
    return changed


def _run(project: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH first: the copy's pipeline, not the installed one.
    return subprocess.run([sys.executable, *argv], cwd=project, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(project), **env}, check=False)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("contributor")
    _copy_project(folder)
    _follow_the_doc(folder)
    return folder


def test_the_doc_adds_a_check_in_four_files(project: Path) -> None:
    assert _changed(project) == ["README.md", "configs/readiness.yaml", "pipeline/checks/licenses/__init__.py",
                                 "tests/checks/test_licenses.py"]


def test_the_new_checks_own_tests_pass(project: Path) -> None:
    done = _run(project, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/checks/test_licenses.py")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_registry_and_the_config_know_it(project: Path) -> None:
    listed = _run(project, "-m", "pipeline", "checks", "--json")
    assert listed.returncode == 0, listed.stderr
    names = [c["name"] for c in json.loads(listed.stdout)]
    assert names.index("audit") < names.index("licenses") < names.index("k6")
    loaded = _run(project, "-c", "from pipeline.gate import load_config; "
                  "print(load_config().check_settings('licenses'))")
    assert loaded.returncode == 0 and "GPL-3.0" in loaded.stdout, loaded.stderr


def test_nox_lists_its_session_in_its_place(project: Path) -> None:
    listed = _run(project, "-m", "nox", "-l", READINESS_GATE_PYTHON=sys.executable)
    assert listed.returncode == 0, listed.stderr
    sessions = re.findall(r"^\* (\S+)", listed.stdout, re.M)
    assert sessions.index("audit") < sessions.index("licenses") < sessions.index("k6") < sessions.index("verdict")


def test_run_waiver_and_sarif_see_it(project: Path) -> None:
    (project / "licenses.csv").write_text("Name,License\nrequests,Apache-2.0\nsomelib,GPL-3.0\n")
    config = {"version": 1, "checks": {"licenses": {"inventory": "licenses.csv"}},
              "waivers": [{"check": "licenses", "id": "forbidden-license:somelib", "reason": "approved by legal",
                           "owner": "alice", "expires": "2099-12-31"}]}
    (project / "gate.yaml").write_text(yaml.safe_dump(config))
    done = _run(project, "-m", "pipeline", "run", "--config", "gate.yaml", "--only", "licenses")
    assert done.returncode == 2, done.stdout + done.stderr  # the other checks did not run: incomplete
    verdict = json.loads((project / "reports" / "readiness.json").read_text())
    licenses = next(c for c in verdict["checks"] if c["check"] == "licenses")
    assert licenses["status"] == "waived"
    assert licenses["findings"][0]["remediation"].startswith("Replace the dependency")
    sarif = json.loads((project / "reports" / "readiness.sarif").read_text())
    rules = [r["ruleId"] for r in sarif["runs"][0]["results"]]
    assert rules == ["licenses/forbidden-license:somelib"]
