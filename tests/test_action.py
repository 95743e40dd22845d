"""The composite action's shell steps, run for real outside GitHub, as the runner would run them.

``action.yml`` is parsed; each ``run:`` step goes through bash (``-eo pipefail``) with
GitHub's variables pointing at temporary files (``GITHUB_OUTPUT``, ``GITHUB_STEP_SUMMARY``,
``GITHUB_EVENT_PATH``, ...) and its ``env`` and ``if`` evaluated from the inputs and the
earlier steps' outputs (the few expression forms action.yml uses). ``uses:`` steps are
recorded with their evaluated ``with``, not run. The gate runs the real audit check
(offline OSV records) on a tiny project; the PR comment goes to a local stand-in of
GitHub's REST API (tests/github_api_standin.py).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.checks.test_audit import HIGH_VECTOR, record, write_db
from tests.github_api_standin import BOT, Recorded, github_api

ROOT = Path(__file__).resolve().parents[1]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
TOKEN = "ghs_standInTokenThatMustNeverBePrinted0123"
REPO, PR = "octo/orders", 7
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
# The audit check keeps an advisory summary's first line; the rest is tried in test_workflow_commands.py.
HOSTILE = "pkg is 100% bad, says: x::notice::y\n::add-mask::hidden"
PINS = "pins, v1: prod.txt"  # a ',' and a ':' in the file property


@dataclass
class ActionRun:
    """What one run of the action left: per-step outputs, logs and outcomes; the uses-steps it would call."""

    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)
    uses: dict[str, dict[str, str]] = field(default_factory=dict)
    failed: bool = False


def evaluate(expression: str, inputs: Mapping[str, str], done: ActionRun) -> Any:
    """The subset of GitHub expressions action.yml uses: inputs, steps outputs, ==, !=, &&, always()."""
    def value(text: str) -> str:
        return repr(text)

    python = expression.replace("&&", " and ").replace("||", " or ").replace("always()", "True")
    python = re.sub(r"\bsteps\.([\w-]+)\.outputs\.([\w-]+)",
                    lambda m: value(done.outputs.get(m[1], {}).get(m[2], "")), python)
    python = re.sub(r"\binputs\.([\w-]+)", lambda m: value(inputs[m[1]]), python)
    python = re.sub(r"\bgithub\.token\b", value(TOKEN), python)
    return eval(python, {"__builtins__": {}}, {})  # our own action.yml, the fixed subset above


def render(text: object, inputs: Mapping[str, str], done: ActionRun) -> str:
    def one(match: re.Match[str]) -> str:
        result = evaluate(match[1], inputs, done)
        return str(result).lower() if isinstance(result, bool) else str(result)
    return EXPRESSION.sub(one, str(text))


def read_outputs(path: Path) -> dict[str, str]:
    """``$GITHUB_OUTPUT`` as the runner reads it: ``key<<DELIM`` blocks and ``key=value`` lines."""
    lines, found = path.read_text(encoding="utf-8").splitlines(), {}
    index = 0
    while index < len(lines):
        key, _, rest = lines[index].partition("<<")
        if rest:
            end = lines.index(rest, index + 1)
            found[key] = "\n".join(lines[index + 1:end])
            index = end + 1
            continue
        key, _, value = lines[index].partition("=")
        found[key] = value
        index += 1
    return found


def run_action(given: Mapping[str, str], workdir: Path, env: Mapping[str, str]) -> ActionRun:
    """Every step of the composite in order, with GitHub's rules for ``if``, failure and continue-on-error."""
    done = ActionRun()
    inputs = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()} | dict(given)
    inputs = {name: render(text, inputs, done) for name, text in inputs.items()}
    for number, step in enumerate(ACTION["runs"]["steps"]):
        name = step.get("id", f"step{number}")
        condition = str(step.get("if", "success()"))
        wanted = evaluate(condition.replace("success()", "True"), inputs, done)
        if not wanted or (done.failed and "always()" not in condition):
            done.outcomes[name] = "skipped"
            continue
        if "uses" in step:
            done.uses[step["uses"].split("@")[0]] = {k: render(v, inputs, done) for k, v in step["with"].items()}
            continue
        done.outcomes[name] = _run_step(step, name, inputs, done, workdir, env)
        continue_on_error = render(step.get("continue-on-error", "false"), inputs, done) == "true"
        done.failed = done.failed or (done.outcomes[name] == "failure" and not continue_on_error)
    return done


def _run_step(step: dict[str, Any], name: str, inputs: Mapping[str, str], done: ActionRun, workdir: Path,
              env: Mapping[str, str]) -> str:
    output = workdir.parent / f"output-{name}"
    output.write_text("")
    script = workdir.parent / f"script-{name}.sh"
    script.write_text(step["run"])
    step_env = {**env, "GITHUB_OUTPUT": str(output),
                **{k: render(v, inputs, done) for k, v in step.get("env", {}).items()}}
    cwd = workdir / render(step.get("working-directory", "."), inputs, done)
    ran = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=cwd, env=step_env,
                         capture_output=True, text=True, timeout=300)
    done.logs[name] = ran.stdout + ran.stderr
    done.outputs[name] = read_outputs(output)
    return "success" if ran.returncode == 0 else "failure"


def github_env(tmp: Path, api_url: str, workdir: Path) -> dict[str, str]:
    """What the runner sets for a step of a ``pull_request`` job (files under ``tmp``)."""
    event = tmp / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": PR}}))
    return {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT), "HOME": str(tmp), "LANG": "C.UTF-8",
        "GITHUB_ACTIONS": "true", "GITHUB_ACTION_PATH": str(ROOT), "GITHUB_WORKSPACE": str(workdir),
        "GITHUB_STEP_SUMMARY": str(tmp / "summary.md"), "GITHUB_EVENT_PATH": str(event),
        "GITHUB_EVENT_NAME": "pull_request", "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": api_url,
        "GITHUB_SERVER_URL": "https://github.example", "GITHUB_RUN_ID": "4242", "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_JOB": "gate", "RUNNER_TEMP": str(tmp),
    }


def project(folder: Path) -> Path:
    """A tiny project: two pins, an OSV record for each (one hostile summary, one waived), the config."""
    folder.mkdir()
    (folder / PINS).write_text("pkg==1.0\nother==1.0\n")
    write_db(folder / "osv", [
        record("PYSEC-2099-1", "pkg", [{"introduced": "0"}, {"fixed": "2.0"}], summary=HOSTILE,
               severity=[{"type": "CVSS_V3", "score": HIGH_VECTOR}]),
        record("PYSEC-2099-2", "other", [{"introduced": "0"}, {"fixed": "2.0"}],
               severity=[{"type": "CVSS_V3", "score": HIGH_VECTOR}])])
    config = {"version": 1, "checks": {"audit": {"requirements": [PINS], "osv_dir": "osv"}},
              "waivers": [{"check": "audit", "id": "PYSEC-2099-2", "reason": "not reachable", "owner": "sec",
                           "expires": "2999-12-31"}]}
    (folder / "readiness.yaml").write_text(yaml.safe_dump(config))
    return folder


@dataclass
class Scenario:
    """Two runs of the action on one PR, the API stand-in's record.

    The first runs the audit check; the second merges the first's result folder and
    comments again (as our readiness.yml's comment job does after the gate job).
    """

    first: ActionRun
    merged: ActionRun
    api: Recorded
    tmp: Path
    foreign: dict[int, str]


INPUTS = {"config": "readiness.yaml", "checks": "audit", "install": "false", "python-version": "",
          "working-directory": "service", "upload-sarif": "true", "comment-on-pr": "true"}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    tmp = tmp_path_factory.mktemp("action")
    project(tmp / "service")
    with github_api(REPO, PR) as (url, api):
        api.add("<!-- readiness-gate -->\nnot mine", "mallory")
        api.add("LGTM", "alice")
        for n in range(150):  # two pages at per_page=100: the gate's comment must be found on any page
            api.add(f"comment {n}", "bob")
        foreign = {i: c["body"] for i, c in api.comments.items()}
        env = github_env(tmp, url, tmp)
        first = run_action(INPUTS, tmp, {**env, "GITHUB_STEP_SUMMARY": str(tmp / "first.md")})
        merged = run_action({"results": "service/reports/result*", "install": "false", "python-version": "",
                             "fail-on-verdict": "false", "reports-dir": "merged", "comment-on-pr": "true"}, tmp,
                            {**env, "GITHUB_STEP_SUMMARY": str(tmp / "merged.md")})
        yield Scenario(first, merged, api, tmp, foreign)


def test_the_summary_is_the_gate_s_markdown(scenario: Scenario) -> None:
    summary = (scenario.tmp / "first.md").read_text(encoding="utf-8")
    assert summary.startswith("## Readiness: ❌ NOT READY")
    assert summary == (scenario.tmp / "service" / "reports" / "readiness.md").read_text(encoding="utf-8")
    merged = (scenario.tmp / "merged.md").read_text(encoding="utf-8")
    assert merged == (scenario.tmp / "merged" / "readiness.md").read_text(encoding="utf-8")


def test_the_outputs_say_the_verdict_and_where_the_reports_are(scenario: Scenario) -> None:
    report = scenario.first.outputs["report"]
    assert (report["verdict"], report["exit-code"]) == ("not_ready", "1")
    assert Path(report["report-path"]) == scenario.tmp / "service" / "reports" / "readiness.html"
    assert Path(report["report-path"]).is_file() and Path(report["sarif-path"]).is_file()
    assert report["artifact-name"] == "readiness-gate-audit-1"
    assert {"verdict", "exit-code", "report-path"} <= set(ACTION["outputs"])


def test_a_not_ready_verdict_fails_the_action_after_every_always_step(scenario: Scenario) -> None:
    run = scenario.first
    assert run.outcomes["gate"] == "failure" and run.failed
    assert run.outcomes["report"] == "success" and "readiness: PR comment" in run.logs["comment"]
    upload = run.uses["actions/upload-artifact"]
    assert upload["name"] == "readiness-gate-audit-1" and upload["retention-days"] == "14"
    assert Path(upload["path"]) == scenario.tmp / "service" / "reports"
    assert run.uses["github/codeql-action/upload-sarif"]["sarif_file"] == run.outputs["report"]["sarif-path"]
    assert "actions/setup-python" not in run.uses  # python-version ''


def test_findings_with_a_file_are_annotated_and_hostile_text_starts_no_command(scenario: Scenario) -> None:
    log = scenario.first.logs["report"]
    commands = [line for line in log.splitlines() if line.startswith("::")]
    error = next(c for c in commands if c.startswith("::error file=service/pins%2C v1%3A prod.txt,line=1,"))
    assert error.endswith(",title=readiness audit%3A vulnerability%3APYSEC-2099-1::pkg 1.0: PYSEC-2099-1 (high) "
                          "pkg is 100%25 bad, says: x::notice::y; fixed in 2.0")
    notice = next(c for c in commands if c.startswith("::notice file=service/pins%2C v1%3A prod.txt,line=2,"))
    assert "waived by" in notice
    assert all(c.startswith(("::error ", "::notice ", "::warning ")) for c in commands), commands


def test_the_first_run_creates_the_comment_and_the_second_edits_it(scenario: Scenario) -> None:
    api = scenario.api
    ours = [c for c in api.comments.values() if c["user"]["login"] == BOT]
    assert len(ours) == 1 and ours[0]["body"].startswith("<!-- readiness-gate -->\n## Readiness: ❌ NOT READY")
    assert "https://github.example/octo/orders/actions/runs/4242" in ours[0]["body"]
    writes = [(method, path) for method, path, _ in api.requests if method != "GET"]
    assert writes == [("POST", f"/repos/{REPO}/issues/{PR}/comments"),
                      ("PATCH", f"/repos/{REPO}/issues/comments/{ours[0]['id']}")]
    pages = [path for method, path, _ in api.requests if method == "GET"]
    assert any("page=2" in p for p in pages)  # the second run found its comment on the second page
    assert {c["id"]: c["body"] for c in api.comments.values() if c["user"]["login"] != BOT} == scenario.foreign


def test_the_token_is_sent_only_as_the_authorization_header(scenario: Scenario) -> None:
    assert {auth for _, _, auth in scenario.api.requests} == {f"Bearer {TOKEN}"}
    for run in (scenario.first, scenario.merged):
        assert not [name for name, log in run.logs.items() if TOKEN in log]


def test_merging_result_folders_gives_the_same_verdict_and_may_not_fail(scenario: Scenario) -> None:
    run = scenario.merged
    assert "verdict --reports-dir merged --results service/reports/results" in run.logs["gate"]
    assert run.outcomes["gate"] == "failure" and not run.failed  # fail-on-verdict: false
    assert run.outputs["report"]["verdict"] == "not_ready"
    assert run.outcomes["comment"] == "success" and "edited" in run.logs["comment"]
    assert "github/codeql-action/upload-sarif" not in run.uses  # upload-sarif is off by default


SLEEPER = """
import pathlib, signal, sys, time
signal.signal(signal.SIGINT, lambda *_: sys.exit(1))
pathlib.Path("running").write_text("yes")
time.sleep(120)
"""


def test_a_cancelled_run_step_still_leaves_a_verdict_that_is_not_ready(tmp_path: Path) -> None:
    """GitHub cancels a superseded run with signals to the step's processes: the gate itself gets them."""
    (tmp_path / "sleeper.py").write_text(SLEEPER)
    config = {"version": 1, "checks": {"coverage": {"command": [sys.executable, "sleeper.py"],
                                                    "cobertura": "reports/evidence/coverage.xml"}}}
    (tmp_path / "readiness.yaml").write_text(yaml.safe_dump(config))
    step = next(s for s in ACTION["runs"]["steps"] if s.get("id") == "gate")
    env = {**github_env(tmp_path, "http://127.0.0.1:9", tmp_path), "INPUT_CONFIG": "readiness.yaml",
           "INPUT_CHECKS": "coverage", "INPUT_REPORTS_DIR": "reports"}
    script = tmp_path / "gate.sh"
    script.write_text(step["run"])
    run = subprocess.Popen(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=tmp_path, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "running").exists() and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.1)
    os.killpg(run.pid, signal.SIGTERM)
    output, _ = run.communicate(timeout=60)
    assert run.returncode == 2, output
    verdict = json.loads((tmp_path / "reports" / "readiness.json").read_text())
    assert verdict["verdict"] == "incomplete" and "interrupted" in verdict["interrupted"], output
