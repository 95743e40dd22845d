"""Run a real tool, then damage the evidence it wrote, the way a full disk or a forger would.

Used as the tool itself (``checks.k6.binary``, a ``pip-audit`` first on PATH, a coverage
command), so the gate sees the real tool's exit code and a damaged report:

    python tests/faults/damage.py MODE TARGET TOOL [ARG...]

TARGET is the damaged file's path, or ``@FLAG`` to take it from the tool's own arguments
(``@--output`` for pip-audit, ``@--summary-export`` for k6). MODE is one of ``truncated``
(cut in the middle), ``empty`` (zero bytes) or a hostile rewrite named in ``HOSTILE``.
A run without TARGET in its arguments (a version probe) is passed through untouched.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def forged_k6_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """k6 says every threshold passed while p95 is 99,999 ms (the issue's own example)."""
    duration = summary["metrics"]["http_req_duration"]
    for stat in ("p(95)", "p(99)", "max"):
        if stat in duration:
            duration[stat] = 99_999.0
    for metric in summary["metrics"].values():
        for expression in metric.get("thresholds", {}):
            metric["thresholds"][expression] = False  # --summary-export: false means "not failed"
    return summary


def nan_pip_audit_version(report: dict[str, Any]) -> dict[str, Any]:
    """A pip-audit report whose audited version is NaN (the issue's own example)."""
    for dependency in report["dependencies"]:
        dependency["version"] = "NaN"
    return report


def forged_schemathesis_report(report: dict[str, Any]) -> dict[str, Any]:
    """A schemathesis run report whose count of errored operations is -1 (a count no run writes)."""
    report["operations"]["errored"] = -1
    return report


HOSTILE: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "k6-forged": forged_k6_summary,
    "pip-audit-nan": nan_pip_audit_version,
    "schemathesis-forged": forged_schemathesis_report,
}

# An entity-expansion ("billion laughs") declaration: a parser that expands it eats the machine.
ENTITY_BOMB = ('<!DOCTYPE coverage [<!ENTITY a "aaaaaaaaaa">'
               + "".join(f'<!ENTITY {b} "{("&" + a + ";") * 10}">' for a, b in zip("abcdefgh", "bcdefghi", strict=True))
               + "]>")


def damage(path: Path, mode: str) -> None:
    """Damage ``path`` in place."""
    data = path.read_bytes()
    if mode == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif mode == "empty":
        path.write_bytes(b"")
    elif mode == "entity-bomb":
        text = data.decode()
        head, _, body = text.partition("?>") if text.startswith("<?xml") else ("", "", text)
        path.write_text(f"{head}{'?>' if head else ''}{ENTITY_BOMB}{body.replace('<sources>', '<sources>&i;', 1)}")
    else:
        path.write_text(json.dumps(HOSTILE[mode](json.loads(data))))


def target_of(target: str, argv: list[str]) -> Path | None:
    """The file to damage: a path, or the value after ``@FLAG`` in the tool's arguments."""
    if not target.startswith("@"):
        return Path(target)
    flag = target[1:]
    return Path(argv[argv.index(flag) + 1]) if flag in argv[:-1] else None


def main(argv: list[str]) -> int:
    """Run the tool, damage its evidence if it wrote any, exit as the tool did."""
    mode, target, *tool = argv
    code = subprocess.run(tool, check=False).returncode
    path = target_of(target, tool)
    if path is not None and path.is_file():
        damage(path, mode)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
