"""The fault matrix's laboratory: shared inputs made once, and one real ``python -m pipeline run`` per cell.

Each cell runs in its own folder with its own config: the faulted check, one cheap
companion check that passes (so that "the other results are intact" can be seen), every
other check disabled. Every process a cell's gate starts inherits ``READINESS_FAULT_CELL``,
so /proc shows whether any of them outlived the gate.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import MANDATORY, REPO
from tests.faults.standins import Cells, TargetService, VulnService

RUN_LIMIT_S = 120.0  # no cell may take longer than this (the hang cells have budgets of seconds)
TRIGGER_LIMIT_S = 60.0


@dataclass
class Plan:
    """One cell: the faulted check's settings, and how the world around it misbehaves."""

    check: str
    fault: str
    settings: dict[str, Any]
    expect: str  # the status the faulted check must end with: error or fail (pass: only a fault in HARMLESS)
    env: dict[str, str] = field(default_factory=dict)
    python: str = sys.executable
    behaviour: dict[str, str] = field(default_factory=dict)  # the cell's routes on the stand-in services
    trigger: Callable[[], bool] | None = None  # true once the check is busy (its tool runs, its query waits)
    on_trigger: Callable[[], None] | None = None  # then done from outside; default: SIGTERM the gate
    prepare: Callable[[Path], None] | None = None  # anything to write into the cell's folder first
    others: dict[str, dict[str, Any]] | None = None  # the other enabled checks (default: the companion)


@dataclass
class Outcome:
    """What a cell's run left behind."""

    code: int
    stderr: str
    stdout: str
    verdict: dict[str, Any] | None
    results: dict[str, dict[str, Any]]
    reports: dict[str, bool]
    survivors: list[str]
    seconds: float
    tool_output: frozenset[str] = frozenset()  # every line the tools wrote to their evidence logs

    def gate_stderr(self) -> str:
        """What the gate itself said on stderr: its stderr without the tools' output it streams there."""
        return "\n".join(line for line in self.stderr.splitlines() if line.strip() not in self.tool_output)


@dataclass
class Lab:
    """Everything cells share: folders, stand-in services, real tools, evidence made once."""

    root: Path
    cells: Cells
    target: TargetService
    vulns: VulnService | None  # None where openssl cannot make its certificate
    bare_python: str
    assets: dict[str, Path]
    addresses: dict[str, str]  # closed: nothing listens; silent: accepts and never answers; closed-dsn
    dsn: str | None = None
    names: dict[tuple[str, str], str] = field(default_factory=dict)

    def cell_name(self, check: str, fault: str) -> str:
        """A short unique name for the cell (its URL prefix, its folder, its proxy user)."""
        unique = f"{check}-{fault.replace(' ', '-').lower()}-{uuid.uuid4().hex[:6]}"
        return self.names.setdefault((check, fault), unique)

    def folder(self, check: str, fault: str) -> Path:
        """The cell's own folder."""
        return self.root / "cells" / self.cell_name(check, fault)

    def companion(self, check: str) -> tuple[str, dict[str, Any]]:
        """A cheap check that passes, run in the same gate: coverage (ingesting real reports), or openapi."""
        if check == "coverage":
            return "openapi", {"spec": str(self.assets["spec"])}
        return "coverage", {"cobertura": str(self.assets["coverage.xml"]), "junit": [str(self.assets["junit.xml"])],
                            "min_line_rate": 0.5}

    def run(self, plan: Plan) -> Outcome:
        """Run the cell's gate; with a trigger, SIGTERM it once the check is busy."""
        name = self.cell_name(plan.check, plan.fault)
        folder = self.folder(plan.check, plan.fault)
        folder.mkdir(parents=True, exist_ok=True)
        if plan.prepare is not None:
            plan.prepare(folder)
        self.cells.behaviour[name] = plan.behaviour
        checks: dict[str, Any] = {n: {"enabled": False} for n in MANDATORY}
        checks.update(plan.others if plan.others is not None else dict([self.companion(plan.check)]))
        checks[plan.check] = plan.settings
        (folder / "readiness.yaml").write_text(yaml.safe_dump({"version": 1, "service": {"name": "matrix"},
                                                               "checks": checks}))
        token = uuid.uuid4().hex
        started = time.monotonic()
        with (folder / "stdout.txt").open("w") as out, (folder / "stderr.txt").open("w") as err:
            gate = subprocess.Popen([plan.python, "-m", "pipeline", "run", "--config", "readiness.yaml",
                                     "--reports-dir", "reports"], cwd=folder, env=self.env(plan, token),
                                    stdout=out, stderr=err, stdin=subprocess.DEVNULL)
            try:
                code = self._drive(gate, plan, folder)
            finally:
                if gate.poll() is None:
                    gate.kill()
                    gate.wait()
        seconds = time.monotonic() - started
        return collect(folder, code, seconds, token)

    def _drive(self, gate: subprocess.Popen[bytes], plan: Plan, folder: Path) -> int:
        if plan.trigger is not None:
            deadline = time.monotonic() + TRIGGER_LIMIT_S
            while not plan.trigger():
                if gate.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the check never got busy (exit {gate.poll()}): "
                                         f"{(folder / 'stderr.txt').read_text()[-3000:]}")
                time.sleep(0.05)
            if plan.on_trigger is None:
                gate.send_signal(signal.SIGTERM)
            else:
                plan.on_trigger()
        return gate.wait(timeout=RUN_LIMIT_S)

    def backends(self, cell: str) -> list[int]:
        """PostgreSQL backends running a query of ``cell`` now."""
        import psycopg

        assert self.dsn is not None
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s "
                                "AND pid <> pg_backend_pid()", (f"%{cell}%",)).fetchall()
        return [int(row[0]) for row in rows]

    def terminate(self, cell: str) -> None:
        """The database backend running the cell's query dies under it (as a crashed backend would)."""
        import psycopg

        assert self.dsn is not None
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for pid in self.backends(cell):
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))

    def env(self, plan: Plan, token: str) -> dict[str, str]:
        """The gate's environment: this worktree's code, no READINESS_* from outside, the cell's token."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("READINESS_")
               and k.lower() not in ("https_proxy", "http_proxy", "all_proxy")}
        env.update({"PYTHONPATH": str(REPO), "READINESS_FAULT_CELL": token, "NO_PROXY": "127.0.0.1,localhost",
                    "no_proxy": "127.0.0.1,localhost", "XDG_CACHE_HOME": str(self.root / "cache" / token),
                    "PIP_NO_CACHE_DIR": "1", "K6_NO_USAGE_REPORT": "true"})
        env.update(plan.env)
        return env


def collect(folder: Path, code: int, seconds: float, token: str) -> Outcome:
    """Read what the run left: results, verdict, reports, console, and processes that outlived it."""
    reports = folder / "reports"
    verdict_file = reports / "readiness.json"
    results = {p.stem: json.loads(p.read_text()) for p in sorted((reports / "results").glob("*.json"))}
    verdict = json.loads(verdict_file.read_text()) if verdict_file.is_file() else None
    names = ("readiness.json", "readiness.html", "readiness.junit.xml", "readiness.md", "readiness.sarif")
    logs = frozenset(line.strip() for log in (reports / "evidence").rglob("*.log")
                     for line in log.read_text(errors="replace").splitlines())
    return Outcome(code, (folder / "stderr.txt").read_text(errors="replace"),
                   (folder / "stdout.txt").read_text(errors="replace"), verdict, results,
                   {n: (reports / n).is_file() for n in names}, survivors(token), seconds, logs)


def survivors(token: str, wait_s: float = 10.0) -> list[str]:
    """Processes started by the cell's gate (they carry its token) still alive after it exited."""
    deadline = time.monotonic() + wait_s
    while True:
        found = [f"{pid}: {cmdline}" for pid, cmdline in _carrying(f"READINESS_FAULT_CELL={token}".encode())]
        if not found or time.monotonic() > deadline:  # a killed process may take a moment to be reaped
            return found
        time.sleep(0.1)


def _carrying(marker: bytes) -> list[tuple[str, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                continue
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append((entry.name, (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()))
        except OSError:
            continue
    return found


def bare_python(folder: Path) -> str:
    """An interpreter with the gate's libraries but no tool beside it (no k6, no pip-audit in its bin/)."""
    base = Path(getattr(sys, "_base_executable", sys.executable))
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(folder)], check=True, capture_output=True,
                   timeout=120)
    purelib = next(folder.glob("lib/python3*/site-packages"))
    ours = next(Path(sys.prefix).glob("lib/python3*/site-packages"))
    (purelib / "gate-libraries.pth").write_text(f"import site; site.addsitedir({str(ours)!r})\n")
    python = folder / "bin" / "python"
    assert not any((folder / "bin" / tool).exists() for tool in ("k6", "pip-audit", "pytest"))
    return str(python)


def copy_tree(source: Path, target: Path) -> Path:
    """A private copy of a shared folder."""
    shutil.copytree(source, target, dirs_exist_ok=True)
    return target
