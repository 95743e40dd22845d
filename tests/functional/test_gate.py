"""The whole gate over complete scenarios, through the real CLI: verdict and exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import others_off, python_test_command, write_config

OTHERS_OFF = others_off("coverage")


def gate(project: Path, command: list[str]) -> tuple[int, dict[str, object], str]:
    write_config(project, (
        "version: 1\nservice: {name: tiny}\nchecks:\n  coverage:\n"
        f"    command: {json.dumps(command)}\n"
        "    cobertura: reports/evidence/coverage.xml\n"
        "    junit: [reports/evidence/junit.xml]\n" + OTHERS_OFF))
    done = subprocess.run([sys.executable, "-m", "pipeline", "run", "--config", "readiness.yaml"],
                          cwd=project, capture_output=True, text=True, timeout=300)
    verdict = json.loads((project / "reports" / "readiness.json").read_text())
    return done.returncode, verdict, done.stdout


def checks(verdict: dict[str, object]) -> list[dict[str, Any]]:
    listed = verdict["checks"]
    assert isinstance(listed, list)
    return listed


def statuses(verdict: dict[str, object]) -> dict[str, str]:
    return {c["check"]: c["status"] for c in checks(verdict)}


def test_incomplete_when_only_coverage_can_run(tiny_project: Path) -> None:
    code, verdict, stdout = gate(tiny_project, python_test_command())
    assert code == 2 and verdict["verdict"] == "incomplete"
    assert statuses(verdict)["coverage"] == "pass"
    assert set(statuses(verdict).values()) == {"pass", "skipped"}
    assert "[PASS   ] coverage" in stdout and "VERDICT: INCOMPLETE" in stdout


def test_not_ready_when_a_test_fails(tiny_project: Path) -> None:
    test_file = tiny_project / "tests" / "test_pkg.py"
    test_file.write_text(test_file.read_text() + "\n\ndef test_broken():\n    assert False\n")
    code, verdict, _ = gate(tiny_project, python_test_command())
    assert code == 1 and verdict["verdict"] == "not_ready"
    html = (tiny_project / "reports" / "readiness.html").read_text()
    assert "NOT READY" in html and "test_broken" in html


def test_incomplete_when_the_test_runner_is_missing(tiny_project: Path) -> None:
    code, verdict, _ = gate(tiny_project, ["definitely-not-installed-runner"])
    assert code == 2 and verdict["verdict"] == "incomplete"
    assert statuses(verdict)["coverage"] == "error"


@pytest.mark.parametrize("broken", ["empty", "truncated"])
def test_incomplete_when_the_report_is_broken(tiny_project: Path, broken: str) -> None:
    # The "test command" writes a broken report: the check errors, the verdict is not ready.
    body = "" if broken == "empty" else "<coverage><packages><package"
    script = ("import pathlib; p = pathlib.Path('reports/evidence'); p.mkdir(parents=True, "
              f"exist_ok=True); (p / 'coverage.xml').write_text({body!r}); "
              "(p / 'junit.xml').write_text('<testsuite><testcase name=\"a\"/></testsuite>')")
    code, verdict, _ = gate(tiny_project, [sys.executable, "-c", script])
    assert code == 2
    coverage = next(c for c in checks(verdict) if c["check"] == "coverage")
    assert coverage["status"] == "error" and "coverage.xml" in coverage["summary"]
