"""promtool, Prometheus's own parser, on a rule file: what it said, or why it said nothing usable.

``promtool check rules FILE`` prints ``SUCCESS: N rules found`` and exits 0, or prints
``FAILED:`` and the problems (file:line:column) and exits 1. Lint problems (duplicate
rules) print ``FAILED:`` but exit 0. Anything else (killed by a signal, a non-zero exit
with no output, silence) is a crashed tool: an error of the check, never a success.
"""

from __future__ import annotations

import re
import shutil
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline import proc
from pipeline.checks.interface import CheckContext
from pipeline.errors import ToolFailed

TIMEOUT_S = 60.0
_SUCCESS = re.compile(r"SUCCESS: (\d+) rules? found")


@dataclass(frozen=True)
class PromtoolVerdict:
    """promtool's answer on one file: the rules it found, its refusal, or its lint complaints."""

    rules: int | None = None  # from "SUCCESS: N rules found"
    rejected: str | None = None  # the file's syntax is refused (message with file:line)
    lint: str | None = None  # accepted, with lint problems (duplicate rules)


def find_promtool(env: Mapping[str, str]) -> str | None:
    """promtool on the PATH of ``env``, or None."""
    return shutil.which("promtool", path=env.get("PATH"))


def check_rules(promtool: str, path: Path, log_path: Path, timeout_s: float,
                env: Mapping[str, str] | None = None) -> PromtoolVerdict:
    """Run ``promtool check rules`` on ``path`` through the tool helper and judge how it ended.

    Raises CheckTimeout (from the helper) or ToolFailed when promtool crashed.
    """
    run = proc.run_tool([promtool, "check", "rules", str(path)], log_path=log_path,
                        timeout_s=min(TIMEOUT_S, timeout_s), expected=range(-64, 256), env=env,
                        install_hint="apt install prometheus (it ships promtool).")
    output = log_path.read_text(encoding="utf-8", errors="replace") if log_path.is_file() else ""
    return judge(run.exit_code, output, path, log_path)


def judge(exit_code: int, output: str, path: Path, log_path: Path) -> PromtoolVerdict:
    """promtool's verdict from its exit code and output; ToolFailed when it is no verdict at all."""
    if exit_code < 0:
        name = signal.Signals(-exit_code).name if -exit_code in signal.valid_signals() else str(-exit_code)
        raise _crashed(f"was killed by signal {name}", path, output, log_path)
    said = [line for line in output.splitlines() if line.strip() and not line.startswith("Checking ")]
    problems = "\n".join(line.strip() for line in said if line.strip() != "FAILED:")
    success = _SUCCESS.search(output)
    if exit_code == 0 and success:
        return PromtoolVerdict(rules=int(success.group(1)), lint=problems if "FAILED:" in output else None)
    if exit_code == 0 and "FAILED:" in output and problems:
        return PromtoolVerdict(lint=problems)
    if exit_code == 1 and problems:
        return PromtoolVerdict(rejected=problems)
    if not said:
        raise _crashed(f"exited with code {exit_code} and printed nothing", path, output, log_path)
    raise _crashed(f"exited with code {exit_code} without a verdict", path, output, log_path)


def _crashed(what: str, path: Path, output: str, log_path: Path) -> ToolFailed:
    tail = proc.last_lines(output, 8).strip() or "(no output)"
    return ToolFailed(f"promtool {what} while checking {path.name}, so the rules were not validated; "
                      f"last output:\n{tail}",
                      f"See {log_path}; reinstall promtool (apt install prometheus) or remove the broken one "
                      "from PATH.")


def validate_files(paths: list[Path], ctx: CheckContext) -> tuple[tuple[Path, PromtoolVerdict | None], ...]:
    """promtool's verdict on each rule file that exists (None where it is not installed or the file is absent)."""
    binary = find_promtool(ctx.env)
    found = []
    for index, path in enumerate(paths):
        verdict = None
        if binary is not None and path.is_file():
            log = ctx.evidence_dir / f"promtool-{index + 1}-{path.stem}.log"
            verdict = check_rules(binary, path, log, ctx.deadline_s, dict(ctx.env))
            ctx.add_evidence(log)
        found.append((path, verdict))
    return tuple(found)
