"""GitHub workflow commands (``::error file=...::message``), step outputs and the step summary.

A command is one line. Its data and property values are escaped as the runner
unescapes them (``%`` first, then CR and LF; in properties also ``:`` and ``,``), so
a hostile finding title cannot end the line and start a command of its own
(``\\n::add-mask::``, ``\\n::set-output``), nor add a property.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline.reporters.safe import plain, relative_path

MAX_MESSAGE = 4000
MAX_ANNOTATIONS = 50  # GitHub shows at most 10 error and 10 warning annotations per step anyway


def escape_data(value: object) -> str:
    """The message part of a workflow command."""
    return plain(value).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: object) -> str:
    """A property value (``file=``, ``title=``) of a workflow command."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: object, properties: Mapping[str, object] | None = None) -> str:
    """One workflow command line, e.g. ``::error file=a.txt,line=3,title=T::message``."""
    props = ",".join(f"{key}={escape_property(value)}" for key, value in (properties or {}).items()
                     if value not in (None, ""))
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)[:MAX_MESSAGE]}"


def annotation_lines(verdict: Mapping[str, Any], folder: str = "") -> list[str]:
    """One annotation per finding that has a file: where code review shows it, beside the line.

    A failing finding is an ``::error`` (it fails its check), one below the failing
    threshold a ``::warning``, a waived one a ``::notice`` naming its waiver. GitHub
    reads ``file`` from the repository root: ``folder`` is where the gate ran, within it.
    """
    lines = []
    for check in verdict.get("checks", []):
        for finding in check.get("findings", []):
            where = _where(finding)
            if where is None:
                continue
            if folder not in ("", "."):
                where["file"] = f"{folder.strip('/')}/{where['file']}"
            text = str(finding.get("title", ""))
            if finding.get("waived_by"):
                text += f" (waived by {finding['waived_by']})"
            title = f"readiness {check.get('check', '?')}: {finding.get('id', '?')}"
            lines.append(command(_level(finding), text, {**where, "title": title}))
    return lines[:MAX_ANNOTATIONS]


def _level(finding: Mapping[str, Any]) -> str:
    if finding.get("waived_by"):
        return "notice"
    return "error" if finding.get("failing") else "warning"


def _where(finding: Mapping[str, Any]) -> dict[str, object] | None:
    """``file`` (relative to the repository) and ``line``, or None when the finding has no file."""
    file, line = finding.get("file"), finding.get("line")
    if not isinstance(file, str) or not relative_path(file):
        return None
    where: dict[str, object] = {"file": file}
    if isinstance(line, int) and not isinstance(line, bool) and line > 0:
        where["line"] = line
    return where


def set_outputs(values: Mapping[str, str], env: Mapping[str, str] = os.environ) -> None:
    """Append ``values`` to ``$GITHUB_OUTPUT`` (heredoc form with a random delimiter); printed if unset."""
    target = env.get("GITHUB_OUTPUT")
    lines = []
    for key, value in values.items():
        delimiter = f"ghadelimiter_{secrets.token_hex(8)}"
        lines += [f"{key}<<{delimiter}", value, delimiter]
    if target:
        with Path(target).open("a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
    else:
        print("\n".join(f"output {k}={v}" for k, v in values.items()))


def append_summary(markdown: str, env: Mapping[str, str] = os.environ) -> bool:
    """Append ``markdown`` to ``$GITHUB_STEP_SUMMARY``; False if there is no summary file."""
    target = env.get("GITHUB_STEP_SUMMARY")
    if not target:
        return False
    with Path(target).open("a", encoding="utf-8") as out:
        out.write(markdown.rstrip("\n") + "\n")
    return True


def print_lines(lines: Iterable[str]) -> None:
    """Print workflow command lines (each already escaped to one line)."""
    for line in lines:
        print(line, flush=True)
