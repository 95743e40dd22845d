"""``readiness batch``: the real gate process answering commands one after another, as the Nox sessions use it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from pipeline import batch

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "examples" / "orders-service" / "openapi.json"
# A service with no database: the standard library's HTTP server (the target's lifecycle is what is tested).
HTTP_SERVICE = {"database": "none", "command": ["{python}", "-m", "http.server", "--bind", "127.0.0.1", "{port}"],
                "ready_path": "/"}


def _config(folder: Path, start: dict[str, Any] | None = None) -> Path:
    """openapi on the example's spec (passes), off under the profile ``nightly``; k6 on when a service starts."""
    checks: dict[str, Any] = {"openapi": {"spec": str(SPEC)}}
    config: dict[str, Any] = {"version": 1, "checks": checks,
                              "profiles": {"nightly": {"checks": {"openapi": {"enabled": False}}}}}
    if start is not None:
        config["service"] = {"start": start}
        checks["k6"] = {}
    path = folder / "gate.yaml"
    path.write_text(json.dumps(config))
    return path


class Gate:
    """A ``readiness batch`` process: requests on its stdin, replies on a pipe of their own."""

    def __init__(self, cwd: Path) -> None:
        reply_read, reply_write = os.pipe()
        env = {k: v for k, v in os.environ.items() if not k.startswith("READINESS_")}
        self.process = subprocess.Popen([sys.executable, "-m", "pipeline", "batch", "--reply-fd", str(reply_write)],
                                        cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, pass_fds=(reply_write,))
        os.close(reply_write)
        self.replies = os.fdopen(reply_read, encoding="utf-8")

    def ask(self, request: dict[str, Any] | str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write((request if isinstance(request, str) else json.dumps(request)) + "\n")
        self.process.stdin.flush()
        line = self.replies.readline()
        assert line, self.finish()
        reply: dict[str, Any] = json.loads(line)
        return reply

    def finish(self) -> str:
        """Close stdin, wait for the end; everything it printed."""
        out, _ = self.process.communicate(timeout=120)
        self.replies.close()
        return out


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Gate]:
    started = Gate(tmp_path)
    yield started
    if started.process.poll() is None:
        started.process.kill()
        started.process.wait()


def _status(folder: Path, check: str) -> str:
    return str(json.loads((folder / "reports" / "results" / f"{check}.json").read_text())["status"])


def test_commands_run_one_after_another_with_the_same_exit_codes_and_results(tmp_path: Path, gate: Gate) -> None:
    config = str(_config(tmp_path))
    assert gate.ask({"argv": ["check", "openapi", "--config", config]}) == {"exit": 0}
    assert _status(tmp_path, "openapi") == "pass"
    assert gate.ask({"argv": ["check", "openapi", "--config", config], "env": {"READINESS_PROFILE": "nightly"}}) \
        == {"exit": 2}
    assert _status(tmp_path, "openapi") == "skipped"
    # The variable was this command's only: the next one runs under the default profile again.
    assert gate.ask({"argv": ["check", "openapi", "--config", config]}) == {"exit": 0}
    assert gate.ask({"argv": ["verdict", "--config", config]}) == {"exit": 2}  # the other checks are missing
    assert json.loads((tmp_path / "reports" / "readiness.json").read_text())["verdict"] == "incomplete"
    out = gate.finish()
    assert gate.process.returncode == 0
    assert out.count("[PASS") == 2 and "VERDICT: INCOMPLETE" in out


@pytest.mark.parametrize(("request_line", "why"), [
    ("not json", "one JSON object per line"),
    ('{"argv": "check openapi"}', "non-empty list of strings"),
    ('{"argv": ["check"], "env": {"A": 1}}', "map names to strings"),
    ('{"argv": ["check"], "cwd": "/"}', '{"argv": [...], "env": {...}}'),
])
def test_a_malformed_request_is_refused_and_the_batch_goes_on(tmp_path: Path, gate: Gate, request_line: str,
                                                              why: str) -> None:
    reply = gate.ask(request_line)
    assert reply["exit"] == 3 and why in reply["error"]
    assert gate.ask({"argv": ["check", "openapi", "--config", str(_config(tmp_path))]}) == {"exit": 0}


def test_a_refused_command_line_is_exit_3_not_the_end_of_the_batch(tmp_path: Path, gate: Gate) -> None:
    assert gate.ask({"argv": ["check"]}) == {"exit": 3}  # argparse: NAME missing
    assert gate.ask({"argv": ["check", "nope"]}) == {"exit": 3}
    assert gate.ask({"argv": ["check", "openapi", "--config", str(tmp_path / "absent.yaml")]}) == {"exit": 3}
    assert gate.ask({"argv": ["check", "openapi", "--config", str(_config(tmp_path))]}) == {"exit": 0}
    assert "invalid choice: 'nope'" in gate.finish()


def test_the_target_serves_the_commands_after_it_and_stops_on_request(tmp_path: Path, gate: Gate) -> None:
    config = str(_config(tmp_path, HTTP_SERVICE))
    started = gate.ask({"argv": ["target", "--config", config]})
    assert started["exit"] == 0 and started["took_s"] > 0, started
    assert len(started["groups"]) == 1 and Path(started["folder"]).is_dir()  # what to kill if the batch dies
    url = started["env"]["READINESS_BASE_URL"]
    assert requests.get(url, timeout=5).status_code == 200
    stopped = gate.ask({"stop": "target"})
    assert stopped["exit"] == 0 and not Path(started["folder"]).exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)
    assert gate.ask({"stop": "target"})["exit"] == 0  # stopping twice is harmless


def test_the_end_of_stdin_stops_the_target(tmp_path: Path, gate: Gate) -> None:
    url = gate.ask({"argv": ["target", "--config", str(_config(tmp_path, HTTP_SERVICE))]})["env"]["READINESS_BASE_URL"]
    gate.finish()
    assert gate.process.returncode == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)


def test_a_target_that_cannot_start_is_exit_2_with_the_reason(tmp_path: Path, gate: Gate) -> None:
    crash = {"database": "none", "command": ["{python}", "-c", "raise SystemExit(4)"]}
    reply = gate.ask({"argv": ["target", "--config", str(_config(tmp_path, crash))]})
    assert reply["exit"] == 2 and "exited with code 4" in reply["env"]["READINESS_TARGET_ERROR"]
    broken = gate.ask({"argv": ["target", "--config", str(tmp_path / "absent.yaml")]})
    assert broken["exit"] == 2 and "absent.yaml" in broken["env"]["READINESS_TARGET_ERROR"]


def test_the_targets_variables_reach_later_commands_only_while_it_runs() -> None:
    seen: list[str | None] = []

    def main(argv: list[str]) -> int:
        seen.append(os.environ.get("READINESS_BASE_URL"))
        os.environ["LEAKED"] = "1"  # what a command sets dies with it
        return 0

    def start(argv: list[str], stack: Any) -> tuple[dict[str, str], None]:
        stack.callback(seen.append, "stopped")
        return {"READINESS_BASE_URL": "http://127.0.0.1:1"}, None

    requests_in = io.StringIO("\n".join(json.dumps(r) for r in (
        {"argv": ["check", "a"]}, {"argv": ["target"]}, {"argv": ["check", "b"]}, {"stop": "target"},
        {"argv": ["check", "c"]})) + "\n")
    replies = io.StringIO()
    assert batch.serve(requests_in, replies, main, start) == 0
    assert seen == [None, "http://127.0.0.1:1", "stopped", None]
    assert "LEAKED" not in os.environ
    assert [json.loads(line)["exit"] for line in replies.getvalue().splitlines()] == [0, 0, 0, 0, 0]


def test_a_command_that_exits_is_a_code_and_the_batch_goes_on() -> None:
    codes = iter([SystemExit(1), SystemExit("a message"), None])

    def main(argv: list[str]) -> int:
        code = next(codes)
        if code is not None:
            raise code
        return 0

    requests_in = io.StringIO('{"argv": ["x"]}\n' * 3)
    replies = io.StringIO()
    batch.serve(requests_in, replies, main, lambda argv, stack: ({}, None))
    assert [json.loads(line)["exit"] for line in replies.getvalue().splitlines()] == [1, 3, 0]


def test_a_check_left_hanging_ends_the_batch_after_its_reply() -> None:
    import threading

    release = threading.Event()

    def main(argv: list[str]) -> int:
        if argv == ["hang"]:  # what the runner leaves behind when it abandons a check at its budget
            threading.Thread(target=release.wait, name="check-hang", daemon=True).start()
            return 2
        return 0

    replies = io.StringIO()
    try:
        batch.serve(io.StringIO('{"argv": ["ok"]}\n{"argv": ["hang"]}\n{"argv": ["ok"]}\n'), replies, main,
                    lambda argv, stack: ({}, None))
    finally:
        release.set()
    answered = [json.loads(line) for line in replies.getvalue().splitlines()]
    assert answered == [{"exit": 0}, {"exit": 2, "ended": "a check abandoned at its time budget still runs"}]


def test_an_interrupted_command_ends_the_batch_after_its_reply() -> None:
    interrupted = []

    def main(argv: list[str]) -> int:
        if argv == ["interrupted"]:  # SIGTERM or Ctrl-C reached the process during this command
            interrupted.append(True)
            return 2
        return 0

    replies = io.StringIO()
    batch.serve(io.StringIO('{"argv": ["ok"]}\n{"argv": ["interrupted"]}\n{"argv": ["ok"]}\n'), replies, main,
                lambda argv, stack: ({}, None), interrupted=lambda: bool(interrupted))
    answered = [json.loads(line) for line in replies.getvalue().splitlines()]
    assert answered == [{"exit": 0}, {"exit": 2, "ended": "it was interrupted (Ctrl-C or SIGTERM)"}]
