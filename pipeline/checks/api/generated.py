"""The generated part of the api check: schemathesis drives every operation from the spec.

The CLI runs through ``pipeline.proc.run_tool`` (its own budget, killed on timeout) and writes
two reports kept as evidence: the JSON run report (how the run ended, how many operations were
tested) and the JUnit report (one test case per operation, each failure with schemathesis's
check code, the response excerpt and a curl line that reproduces it). Both are validated here.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import evidence, proc
from pipeline.checks.api.settings import ApiSettings
from pipeline.errors import CheckTimeout, ParseError, ToolFailed
from pipeline.xmlsafe import parse_xml_file

# Exit codes of `st run`: 0 no failure, 1 failures found; anything else is a crash or a usage error.
EXPECTED_EXIT = (0, 1)
_CURL = re.compile(r"^\s*(curl .+)$", re.MULTILINE)
_RESPONSE = re.compile(r"^\[(\d{3})\][^\n]*\n\s*\n\s*`?(.*?)`?\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Failure:
    """One check schemathesis saw fail on an operation."""

    operation: str
    code: str  # ST101...
    text: str
    curl: str
    status: int | None
    excerpt: str


@dataclass(frozen=True)
class GeneratedRun:
    """What the generated run established: the operations it reached, the failures, why it stopped."""

    tested: tuple[str, ...]
    failures: tuple[Failure, ...]
    stop_reason: str
    cases: int


def command(spec: Path, base_url: str, token: str, settings: ApiSettings, report_dir: Path) -> list[str]:
    """The ``st run`` command line (the token travels as a header; run_tool's log masks it)."""
    spec, report_dir = spec.resolve(), report_dir.resolve()  # schemathesis runs in another folder
    argv = [sys.executable, "-m", "schemathesis.cli", "run", str(spec), "--url", base_url,
            "--max-examples", str(settings.max_examples),
            "--phases", ",".join(settings.phases), "--workers", str(settings.workers), "--seed", str(settings.seed),
            "--request-timeout", str(settings.request_timeout_s), "--report", "junit,json", "--report-dir",
            str(report_dir), "--report-junit-path", str(report_dir / "schemathesis-junit.xml"),
            "--report-json-path", str(report_dir / "schemathesis.json"), "--no-color"]
    return [*argv, "--header", f"Authorization: Bearer {token}"] if token else argv


def run(argv: list[str], log_path: Path, timeout_s: float) -> int:
    """Run schemathesis; its exit code (0 or 1). A crash raises ToolFailed, a run past the budget CheckTimeout.

    Not ``--max-time``: schemathesis then keeps fuzzing until the time is spent; the budget
    here is a ceiling (run_tool kills the run and the check is an error naming it).
    """
    # Its cache (.schemathesis/) goes beside the log, never into the project being gated.
    try:
        done = proc.run_tool(argv, log_path=log_path, timeout_s=timeout_s, expected=EXPECTED_EXIT,
                             cwd=log_path.parent, install_hint="pip install 'readiness-gate[api]' (schemathesis)")
    except (ToolFailed, CheckTimeout) as exc:  # run_tool names the program, python: say which tool it runs
        exc.reason = exc.reason.replace(f"{Path(argv[0]).name} ", "schemathesis ", 1)
        raise
    return done.exit_code


def read(json_path: Path, junit_path: Path) -> GeneratedRun:
    """Both reports, validated; a missing one is ToolFailed, a malformed one ParseError."""
    for path in (json_path, junit_path):
        if not path.is_file() or path.stat().st_size == 0:
            raise ToolFailed(f"schemathesis wrote {'an empty' if path.is_file() else 'no'} {path.name}: "
                             "the run did not finish", "Its log (evidence/schemathesis.log) says why.")
    report = evidence.mapping(evidence.load_json_file(json_path), json_path, "the report")
    ops = evidence.mapping(report.get("operations"), json_path, "operations")
    errored = evidence.count(ops.get("errored"), json_path, "operations.errored")
    if errored:
        raise ToolFailed(f"schemathesis could not test {errored} operation(s) (errors: "
                         f"{_errors(report, json_path)})", "Its log (evidence/schemathesis.log) says more.")
    cases = evidence.count(evidence.mapping(report.get("test_cases"), json_path, "test_cases").get("generated"),
                           json_path, "test_cases.generated")
    stop = evidence.text(report.get("stop_reason", "completed"), json_path, "stop_reason")
    tested, failures = _junit(junit_path)
    if evidence.count(ops.get("tested"), json_path, "operations.tested") > len(tested):
        raise ParseError(json_path, "operations.tested", f"is more than the {len(tested)} test cases of "
                                                         f"{junit_path.name}")
    return GeneratedRun(tested, failures, stop, cases)


def _errors(report: dict[str, Any], source: Path) -> str:
    items = evidence.sequence(report.get("errors"), source, "errors", optional=True)
    return "; ".join(str(i)[:200] for i in items[:3]) or "none listed"


def _junit(path: Path) -> tuple[tuple[str, ...], tuple[Failure, ...]]:
    root = parse_xml_file(path, "schemathesis JUnit report")
    tested: list[str] = []
    failures: list[Failure] = []
    for case in root.iter("testcase"):
        name = evidence.text(case.get("name"), path, "testcase@name")
        tested.append(name)
        for failure in (*case.iter("failure"), *case.iter("error")):
            # One JUnit failure may stand for several checks: message="ST101, ST105".
            for code in (failure.get("message") or failure.tag).split(","):
                failures.append(_failure(name, code, failure.text or ""))
    if not tested:
        raise ParseError(path, "testsuite", "holds no test case: no operation was exercised")
    return tuple(tested), tuple(failures)


def _failure(operation: str, code: str, text: str) -> Failure:
    curl = _CURL.search(text)
    response = _RESPONSE.search(text)
    status = int(response.group(1)) if response else None
    return Failure(operation, code.strip()[:40], text[:4000], curl.group(1).strip() if curl else "",
                   status, response.group(2)[:500] if response else "")
