"""Canary secrets: a value of a secret-named environment variable the config never mentions
reaches no channel: results, the five reports, evidence logs, the console.

The canary holds characters every format escapes (quote, <, &, >, apostrophe), so a
report that masked after escaping would leak it; its core ``Zq9xWv7Kp`` survives any
escaping, so finding the core anywhere means the secret leaked.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipeline import proc
from pipeline.redact import register_environment
from pipeline.reporters import REPORTS, console
from pipeline.runner import write_result
from tests.conftest import cobertura_xml, junit_xml, write_config
from tests.reporters.corpus import PAYLOADS, every_field_report

CORE = "Zq9xWv7Kp"
CANARY = f"Cn4ry-\"<&>'-{CORE}/x"
VARIABLE = "ACME_UNNAMED_API_KEY"  # secret by its name; no config below refers to it


@pytest.fixture
def canary() -> str:
    register_environment({VARIABLE: CANARY})
    return CANARY


def with_canary(i: int) -> str:
    return f"{PAYLOADS[i % 5]} {CANARY} {i}"


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_no_report_shows_the_canary(canary: str, name: str) -> None:
    text = REPORTS[name](every_field_report(with_canary))
    assert CORE not in text
    assert ("\\*\\*\\*" if name.endswith(".md") else "***") in text  # the fields are there, masked


def test_the_console_does_not_show_the_canary(canary: str) -> None:
    report = every_field_report(with_canary)
    stream = io.StringIO()
    lines = [console.check_line(r, stream) for r in report.checks] + console.verdict_lines(report, stream)
    lines += [line for r in report.checks for line in console.reason_lines(r)]
    assert not any(CORE in line for line in lines)


def test_result_files_do_not_hold_the_canary(canary: str, tmp_path: Path) -> None:
    for result in every_field_report(with_canary).checks:
        text = write_result(result, tmp_path).read_text(encoding="utf-8")
        assert CORE not in text


def test_evidence_log_and_streamed_output_do_not_hold_the_canary(canary: str, tmp_path: Path) -> None:
    shown = io.StringIO()
    script = f"import os; print('key', os.environ[{VARIABLE!r}]); print('\\x1b[32mVERDICT: READY\\x1b[0m')"
    run = proc.run_tool([sys.executable, "-c", script], log_path=tmp_path / "tool.log", timeout_s=60,
                        console=shown, env={**os.environ, VARIABLE: CANARY})
    log = run.log_path.read_text(encoding="utf-8")
    assert CORE not in log and CORE not in shown.getvalue()
    assert "key ***" in log and "\x1b" not in shown.getvalue()


TOOL = """\
import os, pathlib, sys
key = os.environ[{variable!r}]
print("debug: api key is", key)
print('{{"password": "pw-{core}-json", "user": "app"}}')
print("PGPASSWORD=pw-{core}-env psql -h db")
print("Authorization: Bearer tok{core}.sig")
print("password: pw {core} yaml")
print("\\x1b[32mVERDICT: READY\\x1b[0m", file=sys.stderr)
folder = pathlib.Path("reports/evidence")
folder.mkdir(parents=True, exist_ok=True)
(folder / "coverage.xml").write_text({cobertura!r})
(folder / "junit.xml").write_text({junit!r})
"""


def test_a_real_run_writes_the_canary_nowhere(tmp_path: Path) -> None:
    (tmp_path / "tool.py").write_text(TOOL.format(variable=VARIABLE, core=CORE, cobertura=cobertura_xml(95, 100),
                                                  junit=junit_xml(passed=3)))
    write_config(tmp_path, textwrap.dedent(f"""\
        version: 1
        service: {{name: canary}}
        checks:
          coverage:
            command: [{sys.executable!r}, tool.py]
            cobertura: reports/evidence/coverage.xml
            junit: [reports/evidence/junit.xml]
        """))
    env = {**os.environ, VARIABLE: CANARY, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-m", "pipeline", "run", "--only", "coverage", "--config",
                           "readiness.yaml"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr  # incomplete: the other checks did not run
    files = [p for p in (tmp_path / "reports").rglob("*") if p.is_file()]
    assert {"readiness.html", "readiness.md", "readiness.json", "readiness.junit.xml", "readiness.sarif",
            "coverage.json", "coverage-command.log"} <= {p.name for p in files}
    leaks = [str(p) for p in files if CORE.encode() in p.read_bytes()]
    assert leaks == []
    assert CORE not in done.stdout + done.stderr
    log = next(p for p in files if p.name == "coverage-command.log").read_text(encoding="utf-8")
    assert "api key is ***" in log and '"password": "***"' in log and "PGPASSWORD=***" in log
    assert "Bearer ***" in log and "password: ***" in log
    assert "\x1b" not in done.stdout + done.stderr and "VERDICT: READY" not in done.stdout
