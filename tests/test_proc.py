"""The subprocess helper against real processes: exit codes, evidence, timeouts, Ctrl-C."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline import proc
from pipeline.errors import CheckTimeout, ToolFailed, ToolNotFound
from pipeline.model import Status
from pipeline.runner import run_check
from tests.conftest import config_from


def test_output_is_saved_and_streamed(tmp_path: Path) -> None:
    import io

    console = io.StringIO()
    run = proc.run_tool([sys.executable, "-c", "print('hello'); print('world')"],
                        log_path=tmp_path / "out.log", timeout_s=30, console=console)
    assert run.exit_code == 0
    assert (tmp_path / "out.log").read_text() == "hello\nworld\n" == console.getvalue()
    assert run.tail(1) == "world"


def test_unexpected_exit_code_is_tool_failed_with_the_last_output(tmp_path: Path) -> None:
    with pytest.raises(ToolFailed) as err:
        proc.run_tool([sys.executable, "-c", "import sys; print('bad input'); sys.exit(4)"],
                      log_path=tmp_path / "out.log", timeout_s=30)
    assert "exited with code 4" in err.value.reason and "bad input" in err.value.reason


def test_declared_exit_code_is_accepted(tmp_path: Path) -> None:
    run = proc.run_tool([sys.executable, "-c", "raise SystemExit(99)"],
                        log_path=tmp_path / "o.log", timeout_s=30, expected=(0, 99))
    assert run.exit_code == 99


def test_missing_and_unexecutable_tools(tmp_path: Path) -> None:
    with pytest.raises(ToolNotFound, match="not found"):
        proc.run_tool(["no-such-binary-xyz"], log_path=tmp_path / "o.log", timeout_s=5,
                      install_hint="pip install xyz")
    script = tmp_path / "tool.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(ToolNotFound, match="not executable"):
        proc.run_tool([str(script)], log_path=tmp_path / "o.log", timeout_s=5)


def test_find_tool_looks_in_extra_folders(tmp_path: Path) -> None:
    tool = tmp_path / "my-k6"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    assert proc.find_tool("my-k6", [tmp_path]) == str(tool)
    assert proc.find_tool("my-k6-missing", [tmp_path]) is None
    assert proc.find_tool("sh") == shutil.which("sh")


def test_tool_version_asks_the_tool_itself() -> None:
    assert proc.tool_version(sys.executable) == f"Python {sys.version.split()[0]}"
    assert proc.tool_version("no-such-binary-xyz") == "unknown"


def test_timeout_raises_and_kills(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(CheckTimeout, match=r"did not finish within 0\.5 s"):
        proc.run_tool(["sleep", "30"], log_path=tmp_path / "o.log", timeout_s=0.5)
    assert time.monotonic() - started < 10


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}").exists() else "X"
    return status != "Z"


def test_ctrl_c_reaches_the_tool_and_the_result_is_written(tiny_project: Path) -> None:
    # Like k6: on SIGINT the tool writes its last output and exits by itself.
    script = ("import os, signal, sys, time, pathlib\n"
              "def stop(*_):\n    print('got SIGINT, writing summary', flush=True); sys.exit(0)\n"
              "signal.signal(signal.SIGINT, stop)\n"
              "pathlib.Path('tool.pid').write_text(str(os.getpid()))\ntime.sleep(60)\n")
    (tiny_project / "tool.py").write_text(script)
    config = config_from(tiny_project, (
        "version: 1\nchecks:\n  coverage:\n"
        f"    command: [{sys.executable!r}, tool.py]\n".replace("'", '"')
        + "    cobertura: reports/evidence/coverage.xml\n"))

    def interrupt_when_started() -> None:
        deadline = time.monotonic() + 20
        while not (tiny_project / "tool.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, delivered to the main thread

    threading.Thread(target=interrupt_when_started, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        run_check("coverage", config, tiny_project / "reports", tiny_project)
    pid = int((tiny_project / "tool.pid").read_text())
    assert not _alive(pid)
    log = (tiny_project / "reports/evidence/coverage-command.log").read_text()
    assert "got SIGINT, writing summary" in log
    written = (tiny_project / "reports/results/coverage.json").read_text()
    assert '"status": "error"' in written and "interrupted (Ctrl-C or SIGTERM)" in written
    assert Status.ERROR.exit_code == 2


def test_stdout_kept_apart_from_stderr_when_asked(tmp_path: Path) -> None:
    # npm audit prints its JSON report on stdout and warnings on stderr: they must not mix.
    script = "import sys; print('{\"report\": 1}'); print('npm WARN something', file=sys.stderr)"
    run = proc.run_tool([sys.executable, "-c", script], log_path=tmp_path / "tool.log", timeout_s=30,
                        stdout_path=tmp_path / "report.json")
    assert run.exit_code == 0
    assert (tmp_path / "report.json").read_text() == '{"report": 1}\n'
    assert (tmp_path / "tool.log").read_text() == "npm WARN something\n"


def test_interrupt_while_waiting_kills_the_whole_group(tmp_path: Path) -> None:
    # A setup command (and the server it forked) interrupted by SIGTERM must not outlive the gate.
    script = ("import os, subprocess, sys, time, pathlib\n"
              "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
              "pathlib.Path('pids').write_text(f'{os.getpid()} {child.pid}')\ntime.sleep(60)\n")

    def interrupt_when_started() -> None:
        deadline = time.monotonic() + 20
        while not (tmp_path / "pids").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_when_started, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        proc.run_tool([sys.executable, "-c", script], log_path=tmp_path / "o.log", timeout_s=60, cwd=tmp_path)
    parent, child = map(int, (tmp_path / "pids").read_text().split())
    deadline = time.monotonic() + 10
    while (_alive(parent) or _alive(child)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(parent) and not _alive(child)


def test_version_probe_that_hangs_is_killed_with_its_children(tmp_path: Path) -> None:
    tool = tmp_path / "slow-tool"
    tool.write_text(f"#!{sys.executable}\nimport os, subprocess, sys, time, pathlib\n"
                    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
                    f"pathlib.Path({str(tmp_path / 'child')!r}).write_text(str(child.pid))\ntime.sleep(60)\n")
    tool.chmod(0o755)
    started = time.monotonic()
    assert proc.tool_version(str(tool)) == "unknown"
    assert time.monotonic() - started < 30
    child = int((tmp_path / "child").read_text())
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_streamed_output_is_redacted_and_stripped_of_terminal_escapes(tmp_path: Path) -> None:
    import io

    console = io.StringIO()
    line = "connect postgresql://app:hunter22@db/x \x1b[2K\x1b[1A\x1b]0;owned\x07\x1b[32mVERDICT: READY\x1b[0m"
    proc.run_tool([sys.executable, "-c", f"print({line!r})"], log_path=tmp_path / "o.log", timeout_s=30,
                  console=console)
    shown, logged = console.getvalue(), (tmp_path / "o.log").read_text()
    assert "hunter22" not in shown and "hunter22" not in logged
    assert "\x1b" not in shown and "VERDICT: READY" in shown and "owned" not in shown


# --- Background processes (the target's) and captured one-shot commands ----------------------------

FORKING = ("import os, subprocess, sys, time, pathlib\n"
           "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
           "print('stdin:', repr(sys.stdin.read()), flush=True)\n"
           "print('oops', file=sys.stderr, flush=True)\n"
           "pathlib.Path('pids').write_text(f'{os.getpid()} {child.pid} {os.getpgid(0)}')\ntime.sleep(60)\n")


def _pids(folder: Path) -> list[int]:
    deadline = time.monotonic() + 20
    while not (folder / "pids").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return list(map(int, (folder / "pids").read_text().split()))


def _gone(*pids: int) -> bool:
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(_alive(p) for p in pids)


def test_background_process_has_its_group_no_stdin_and_a_log(tmp_path: Path) -> None:
    process = proc.start_background([sys.executable, "-c", FORKING], log_path=tmp_path / "logs" / "bg.log",
                                    cwd=tmp_path)
    try:
        leader, child, group = _pids(tmp_path)
        assert leader == process.pid and group == process.pid != os.getpgid(0)
        assert process.pid in proc._background and process.pid not in proc.live_groups()
    finally:
        proc.stop_background(process)
    assert _gone(leader, child)
    assert process.pid not in proc._background
    assert (tmp_path / "logs" / "bg.log").read_text() == "stdin: ''\noops\n"


def test_background_process_ignoring_the_first_signal_is_killed(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proc, "STOP_GRACE_S", 0.5)
    script = "import signal, time, pathlib\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" \
             "pathlib.Path('ready').write_text('1')\ntime.sleep(60)\n"
    process = proc.start_background([sys.executable, "-c", script], log_path=tmp_path / "bg.log", cwd=tmp_path)
    deadline = time.monotonic() + 20
    while not (tmp_path / "ready").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.stop_background(process, signal.SIGTERM)
    assert process.returncode == -signal.SIGKILL


def test_background_processes_left_behind_are_killed_at_exit(tmp_path: Path) -> None:
    # A gate that exits without its owner's clean-up (an interrupted start-up) leaves nothing running.
    script = (f"import sys; sys.path.insert(0, {str(Path.cwd())!r})\nfrom pathlib import Path\n"
              "from pipeline import proc\n"
              f"p = proc.start_background([sys.executable, '-c', {FORKING!r}], log_path=Path('bg.log'), "
              "cwd=Path('.'))\n"
              "import time\nwhile not Path('pids').exists(): time.sleep(0.05)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, timeout=60, check=False)
    assert done.returncode == 0
    assert _gone(*_pids(tmp_path)[:2])


def test_background_process_that_cannot_start_is_tool_not_found(tmp_path: Path) -> None:
    before = dict(proc._background)  # the session's PostgreSQL and targets run in the background too
    with pytest.raises(ToolNotFound, match="no-such-server-xyz could not start"):
        proc.start_background(["no-such-server-xyz"], log_path=tmp_path / "bg.log")
    assert proc._background == before


def test_captured_command_keeps_its_output_apart_and_in_memory(tmp_path: Path) -> None:
    script = "import sys; print('token-123'); print('warn', file=sys.stderr); sys.exit(3)"
    assert proc.run_captured([sys.executable, "-c", script], 30, cwd=tmp_path) == (3, "token-123\n", "warn\n")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ToolNotFound, match="no-such-tool-xyz could not run"):
        proc.run_captured(["no-such-tool-xyz"], 30)


def test_captured_command_that_hangs_is_killed_with_its_children(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(CheckTimeout, match=r"python\S* did not finish within 1 s"):
        proc.run_captured([sys.executable, "-c", FORKING], 1, cwd=tmp_path)
    assert time.monotonic() - started < 20
    assert _gone(*_pids(tmp_path)[:2])


INFRASTRUCTURE = ("pipeline.proc", "pipeline.target", "pipeline.config", "pipeline.model", "pipeline.xmlsafe",
                  "pipeline.errors", "pipeline.interrupts")


def test_infrastructure_imports_nothing_of_the_checks() -> None:
    # The layers below the checks must stay importable without them (issue 13).
    script = (f"import importlib, sys\nfor name in {INFRASTRUCTURE!r}: importlib.import_module(name)\n"
              "print(sorted(m for m in sys.modules if m.startswith('pipeline.checks')))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True,
                          cwd=Path(__file__).parent.parent)
    assert done.stdout.strip() == "[]"
