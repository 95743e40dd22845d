"""``python -m pipeline.github STEP``: the composite action's steps (see ``action.yml``)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    """Run one step of the action; ``lint`` runs the workflow linters."""
    parser = argparse.ArgumentParser(prog="python -m pipeline.github", description=__doc__)
    sub = parser.add_subparsers(dest="step", required=True)
    sub.add_parser("setup", help="install what the enabled checks need (extras, Prometheus)")
    sub.add_parser("matrix", help="output checks: the enabled checks as a JSON list (one matrix job each)")
    sub.add_parser("run", help="run the gate (readiness run, or readiness verdict --results ...)")
    sub.add_parser("report", help="step summary, outputs and annotations from reports/readiness.json")
    sub.add_parser("comment", help="create or edit the one PR comment with the verdict")
    lint = sub.add_parser("lint", help="zizmor, actionlint and check-jsonschema over the workflows and action.yml")
    lint.add_argument("root", nargs="?", type=Path, default=Path("."))
    lint.add_argument("--require-all", action="store_true", help="a linter that is not installed is a failure")
    args = parser.parse_args(argv)
    if args.step in ("setup", "matrix"):
        from pipeline.github import install
        return install.setup() if args.step == "setup" else install.matrix()
    if args.step == "lint":
        return _lint(args.root, args.require_all)
    from pipeline.github import steps
    if args.step == "run":
        steps.run()
    return steps.report() if args.step == "report" else steps.comment()


def _lint(root: Path, require_all: bool) -> int:
    from pipeline.github.linters import lint_all

    failed = False
    for result in lint_all(root, Path(tempfile.mkdtemp(prefix="readiness-lint-"))):
        if not result.ran:
            print(f"{result.linter}: NOT RUN: {result.output}")
            failed = failed or require_all
        elif result.exit_code:
            print(f"{result.linter}: findings (exit {result.exit_code}):\n{result.output}")
            failed = True
        else:
            print(f"{result.linter}: no findings")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
