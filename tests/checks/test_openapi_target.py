"""``readiness run --only openapi`` starts the service under test exactly when the check fetches from it.

The service is a tiny real HTTP server (a script run by ``service.start``) that answers
/ready and serves the spec; the gate starts it, the check fetches from it, the gate stops it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO

SERVER = """\
import http.server, pathlib, sys

SPEC = pathlib.Path(sys.argv[2]).read_bytes()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = {"/ready": b"ok", "/openapi.json": SPEC}.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write(body or b"")
        print("served", self.path, flush=True)

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def _running(script: Path) -> list[str]:
    """PIDs of processes running ``script``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(script).encode() in (entry / "cmdline").read_bytes():
                found.append(entry.name)
        except OSError:
            continue
    return found


def _run_openapi(project: Path, openapi: dict[str, Any]) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    (project / "server.py").write_text(SERVER)
    (project / "openapi.json").write_bytes((REPO / "examples" / "orders-service" / "openapi.json").read_bytes())
    start = {"database": "none", "command": ["{python}", str(project / "server.py"), "{port}", "openapi.json"],
             "ready_path": "/ready", "ready_timeout_s": 30}
    body = {"version": 1, "service": {"name": "tiny", "start": start}, "checks": {"openapi": openapi}}
    (project / "readiness.yaml").write_text(yaml.safe_dump(body))
    done = subprocess.run([sys.executable, "-m", "pipeline", "run", "--config", "readiness.yaml", "--only", "openapi"],
                          cwd=project, capture_output=True, text=True, timeout=180, check=False)
    result = json.loads((project / "reports" / "results" / "openapi.json").read_text())
    return done, result


def test_a_served_spec_makes_the_gate_start_the_service_and_stop_it(tmp_path: Path) -> None:
    done, result = _run_openapi(tmp_path, {"spec": "openapi.json", "served_spec": "/openapi.json"})
    assert result["status"] == "pass", done.stdout + done.stderr
    assert "match the 6 the service serves" in result["summary"]
    log = tmp_path / "reports" / "evidence" / "target" / "service.log"
    assert "served /openapi.json" in log.read_text()  # the check asked the service the gate started
    assert "target: ready at http://127.0.0.1:" in done.stderr
    assert result["details"]["served_spec"].startswith("http://127.0.0.1:")
    assert _running(tmp_path / "server.py") == []  # stopped once the check was done


def test_a_spec_file_alone_does_not_start_the_service(tmp_path: Path) -> None:
    done, result = _run_openapi(tmp_path, {"spec": "openapi.json"})
    assert result["status"] == "pass", done.stdout + done.stderr
    assert not (tmp_path / "reports" / "evidence" / "target").exists()
    assert "target:" not in done.stderr
