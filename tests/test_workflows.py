"""The GitHub workflows have the shape the README promises (actionlint cannot be installed here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

WORKFLOWS = Path(__file__).resolve().parents[1] / ".github" / "workflows"


def load(name: str) -> dict[object, object]:
    data: dict[object, object] = yaml.safe_load((WORKFLOWS / name).read_text())
    return data


def steps(workflow: dict[object, object], job: str) -> list[dict[str, Any]]:
    jobs = workflow["jobs"]
    assert isinstance(jobs, dict)
    found: list[dict[str, Any]] = jobs[job]["steps"]
    return found


def test_readiness_workflow_runs_on_pull_requests_and_by_hand() -> None:
    workflow = load("readiness.yml")
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert isinstance(triggers, dict) and set(triggers) == {"pull_request", "workflow_dispatch"}


def test_readiness_workflow_summarises_uploads_and_fails_unless_ready() -> None:
    gate = steps(load("readiness.yml"), "gate")
    text = "\n".join(s.get("run", "") for s in gate)
    assert "GITHUB_STEP_SUMMARY" in text and "readiness.md" in text
    assert 'test "$verdict" = "ready"' in text
    upload = next(s for s in gate if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["path"] == "reports/"
    assert all(s.get("if") == "always()" for s in gate[-3:])


def test_ci_workflow_runs_the_readme_test_command() -> None:
    text = "\n".join(s.get("run", "") for s in steps(load("ci.yml"), "tests"))
    readme = (WORKFLOWS.parents[1] / "README.md").read_text()
    assert "nox -s tests" in text and "nox -s tests" in readme
    assert "nox -s lint" in text
