"""The composite action's steps: install what the checks need, run the gate, report, comment.

Every input arrives in an ``INPUT_*`` environment variable (the action maps them), so
no input is ever pasted into a shell script.
"""

from __future__ import annotations

import glob
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.github import pr_comment
from pipeline.github.workflow_commands import annotation_lines, append_summary, command, print_lines, set_outputs

PULL_REQUEST_EVENTS = ("pull_request", "pull_request_target")


def flag(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    """A boolean action input (``true``/``false``, as the runner passes them)."""
    value = env.get(name, "").strip().lower()
    return default if not value else value in ("true", "1", "yes")


def reports_dir(env: Mapping[str, str]) -> Path:
    """The gate's reports folder (input ``reports-dir``, default ``reports``)."""
    return Path(env.get("INPUT_REPORTS_DIR") or "reports")


def checks_input(env: Mapping[str, str]) -> list[str]:
    """The ``checks`` input: check names, comma- or line-separated."""
    return [c.strip() for c in env.get("INPUT_CHECKS", "").replace("\n", ",").split(",") if c.strip()]


def result_folders(env: Mapping[str, str]) -> list[str]:
    """The ``results`` input: folders to merge, one per line or comma, shell globs expanded."""
    folders: list[str] = []
    for item in env.get("INPUT_RESULTS", "").replace(",", "\n").splitlines():
        pattern = item.strip()
        if pattern:
            # A pattern that matches nothing stays: the gate then says the folder is missing.
            folders += sorted(glob.glob(pattern)) or [pattern]
    return folders


def gate_argv(env: Mapping[str, str]) -> list[str]:
    """``readiness run ...``, or ``readiness verdict --results ...`` when folders are to be merged."""
    # -P: a `pipeline` folder in the user's repository must not shadow the gate's package.
    argv = [sys.executable, "-P", "-m", "pipeline"]
    folders = result_folders(env)
    if folders:
        argv += ["verdict", "--reports-dir", str(reports_dir(env))]
        for folder in folders:
            argv += ["--results", folder]
        return argv
    argv += ["run", "--reports-dir", str(reports_dir(env))]
    if env.get("INPUT_CONFIG"):
        argv += ["--config", env["INPUT_CONFIG"]]
    if env.get("INPUT_PROFILE"):
        argv += ["--profile", env["INPUT_PROFILE"]]
    if checks_input(env):
        argv += ["--only", ",".join(checks_input(env))]
    return argv


def run(env: Mapping[str, str] = os.environ) -> None:
    """Replace this process with the gate: the runner's SIGINT/SIGTERM on cancel reach it directly."""
    argv = gate_argv(env)
    print(f"readiness: running readiness {' '.join(argv[4:])}", flush=True)
    os.execv(argv[0], argv)  # noqa: S606 -- argv list of our own interpreter, no shell


def report(env: Mapping[str, str] = os.environ) -> int:
    """Step summary, outputs (verdict, exit-code, report-path, ...) and annotations; always exits 0."""
    folder = reports_dir(env)
    verdict = _read_verdict(folder / "readiness.json")
    summary = folder / "readiness.md"
    if verdict is not None and summary.is_file():
        append_summary(summary.read_text(encoding="utf-8"), env)
    else:
        append_summary("## Readiness: ⚠️ NO VERDICT\n\nThe gate did not write its verdict "
                       "(it could not be installed, or it crashed): see the job log.\n", env)
    sarif = folder / "readiness.sarif"
    outputs = {
        "verdict": str(verdict["verdict"]) if verdict else "missing",
        "exit-code": str(verdict["exit_code"]) if verdict else "2",
        "report-path": str((folder / "readiness.html").resolve()) if (folder / "readiness.html").is_file() else "",
        "reports-dir": str(folder.resolve()),
        "sarif-path": str(sarif.resolve()) if _has_runs(sarif) else "",
        "artifact-name": artifact_name(env),
    }
    set_outputs(outputs, env)
    print_lines(annotation_lines(verdict or {}, _folder_in_repository(env)))
    if verdict is None:
        print_lines([command("error", f"readiness: no valid verdict in {folder / 'readiness.json'}")])
    return 0


def _folder_in_repository(env: Mapping[str, str]) -> str:
    """Where the gate ran, relative to the checkout (``$GITHUB_WORKSPACE``); "" when outside or unknown."""
    workspace = env.get("GITHUB_WORKSPACE")
    if not workspace:
        return ""
    try:
        return Path.cwd().resolve().relative_to(Path(workspace).resolve()).as_posix()
    except ValueError:
        return ""


def _read_verdict(path: Path) -> dict[str, Any] | None:
    """The verdict document if it exists and is valid (schema readiness.verdict/1), else None."""
    from jsonschema import ValidationError

    from pipeline.verdict import validate_verdict

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        validate_verdict(data)
    except (OSError, ValueError, ValidationError) as exc:
        print(f"readiness: {path}: {type(exc).__name__}", file=sys.stderr)
        return None
    return data if isinstance(data, dict) else None


def _has_runs(sarif: Path) -> bool:
    try:
        return bool(json.loads(sarif.read_text(encoding="utf-8")).get("runs"))
    except (OSError, ValueError, AttributeError):
        return False


def artifact_name(env: Mapping[str, str]) -> str:
    """The ``artifact-name`` input, else one unique per job, matrix leg (its checks) and attempt."""
    if env.get("INPUT_ARTIFACT_NAME"):
        return env["INPUT_ARTIFACT_NAME"]
    checks = "-".join(checks_input(env)) or "all"
    parts = ["readiness", env.get("GITHUB_JOB", "job"), checks, env.get("GITHUB_RUN_ATTEMPT", "1")]
    # Artifact names may not hold these characters (the upload would fail).
    return "-".join(parts).translate({ord(c): "_" for c in '"\\/:<>|*?\r\n'})


def comment(env: Mapping[str, str] = os.environ) -> int:
    """Create or edit the one PR comment; a refusal (a fork's read-only token) is a warning, not a failure."""
    if not flag(env, "INPUT_COMMENT_ON_PR"):
        print("readiness: comment-on-pr is off")
        return 0
    pr = _pull_request(env)
    if pr is None:
        print(f"readiness: no pull request in this {env.get('GITHUB_EVENT_NAME', '?')} event; no comment")
        return 0
    token = env.get("GITHUB_TOKEN", "")
    if not token:
        print_lines([command("warning", "readiness: no token (input github-token); no PR comment")])
        return 0
    summary = reports_dir(env) / "readiness.md"
    markdown = summary.read_text(encoding="utf-8") if summary.is_file() else "## Readiness: ⚠️ NO VERDICT"
    run_url = "{}/{}/actions/runs/{}".format(env.get("GITHUB_SERVER_URL", "https://github.com"),
                                             env.get("GITHUB_REPOSITORY", ""), env.get("GITHUB_RUN_ID", ""))
    try:
        done, number = pr_comment.upsert(pr, pr_comment.body_for(markdown, run_url), token,
                                         env.get("INPUT_COMMENT_AUTHOR") or pr_comment.DEFAULT_AUTHOR)
    except pr_comment.CommentError as exc:
        print_lines([command("warning", f"readiness: the PR comment could not be written: {exc}")])
        return 0
    print(f"readiness: PR comment {number} {done}")
    return 0


def _pull_request(env: Mapping[str, str]) -> pr_comment.PullRequest | None:
    if env.get("GITHUB_EVENT_NAME") not in PULL_REQUEST_EVENTS or not env.get("GITHUB_EVENT_PATH"):
        return None
    try:
        event = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text(encoding="utf-8"))
        number = event["pull_request"]["number"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(number, int) or isinstance(number, bool):
        return None
    return pr_comment.PullRequest(env.get("GITHUB_API_URL", "https://api.github.com"),
                                  env.get("GITHUB_REPOSITORY", ""), number)
