"""The world around the fault matrix: a service under test, a vulnerability service, ZAP, tool wrappers.

- ``TargetService``: the service under test (health, readiness, metrics, its served spec, an
  API endpoint k6 loads). Each cell has its own path prefix ``/c/<cell>/`` and its own
  behaviour (answer, hang, cut the body...), so cells never share state.
- ``VulnService``: STAND-IN for PyPI's vulnerability service (``https://pypi.org/pypi/<name>/
  <version>/json``, which cannot be reached from a test). The real pip-audit reaches it as a
  proxy (``HTTPS_PROXY``) that terminates TLS with a certificate for pypi.org signed by a CA
  made for the test (``REQUESTS_CA_BUNDLE``); the proxy user name is the cell.
- ``ZAP_STANDIN``: STAND-IN for ``zap-baseline.py`` (ZAP cannot run here): it reaches the
  target as ZAP does, replays a real baseline stdout and a real JSON report from
  ../shared/fixtures/real/zap, and exits with zap-baseline's documented codes.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.faults.api_standin import ThingsApi, crash_schemathesis

HOLD_S = 600.0  # a hanging answer waits this long, or until the cell is released

METRICS = """# HELP http_requests_total Requests served.
# TYPE http_requests_total counter
http_requests_total{route="/items",status="200"} 41.0
# HELP http_request_duration_seconds Request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{route="/items",le="0.1"} 40.0
http_request_duration_seconds_bucket{route="/items",le="+Inf"} 41.0
http_request_duration_seconds_count{route="/items"} 41.0
http_request_duration_seconds_sum{route="/items"} 1.5
"""


class Cells:
    """Per-cell behaviour and what each cell's tools have asked for so far."""

    def __init__(self) -> None:
        self.behaviour: dict[str, dict[str, str]] = {}
        self.pid_files: dict[str, Path] = {}
        self._hits: dict[tuple[str, str], threading.Event] = {}
        self._lock = threading.Lock()
        self.released = threading.Event()

    def hit(self, cell: str, route: str) -> threading.Event:
        """The event set when ``cell`` first asks for ``route``."""
        with self._lock:
            return self._hits.setdefault((cell, route), threading.Event())

    def what(self, cell: str, route: str) -> str:
        """How ``route`` behaves for ``cell`` ("normal" unless the cell says otherwise)."""
        return self.behaviour.get(cell, {}).get(route, "normal")

    def hold(self) -> None:
        """Hang: answer nothing until the matrix is over."""
        self.released.wait(HOLD_S)

    def crash_tool(self, cell: str) -> None:
        """Kill the cell's tool (its wrapper wrote its pid, then exec'd the real tool) with SIGSEGV."""
        pid_file = self.pid_files[cell]
        with contextlib.suppress(ProcessLookupError, ValueError, FileNotFoundError):
            os.kill(int(pid_file.read_text().split()[-1]), signal.SIGSEGV)


class _QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client the gate killed mid-answer (k6, a probe at its timeout) is expected here


class _QuietTCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # likewise: pip-audit killed or stopped mid-request


class TargetService:
    """The service under test, one path prefix per cell: ``/c/<cell>/health`` and so on."""

    def __init__(self, cells: Cells, spec: dict[str, Any]) -> None:
        self.cells = cells
        self.spec = json.dumps(spec).encode()
        self.api = ThingsApi()
        handler = type("Handler", (_TargetHandler,), {"service": self})
        self.httpd = _QuietHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, cell: str) -> str:
        """The base URL the cell's checks use."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/c/{cell}"

    def body(self, cell: str, route: str) -> bytes | None:
        """The answer's body for ``route`` (None: unknown route), after the cell's behaviour."""
        behaviour = self.cells.what(cell, route)
        if behaviour == "hang":
            self.cells.hold()
        if behaviour == "crash-tool":
            self.cells.crash_tool(cell)
        bodies = {"health": b"ok", "ready": b"ok", "items": b'{"items": []}', "metrics": METRICS.encode(),
                  "openapi.json": self.spec}
        body = bodies.get(route)
        if body is None or behaviour == "empty":
            return b"" if body is not None else None
        if behaviour == "truncated":
            return body[: len(body) // 2]
        return body

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _TargetHandler(BaseHTTPRequestHandler):
    service: TargetService

    def do_GET(self) -> None:
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) != 3 or parts[0] != "c":
            self.send_error(404)
            return
        cell, route = parts[1], parts[2]
        self.service.cells.hit(cell, route).set()
        if route == "things":
            self._things(cell)
            return
        body = self.service.body(cell, route)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4" if route == "metrics" else "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _things(self, cell: str) -> None:
        """The API stand-in (tests/faults/api_standin.py), after the cell's behaviour."""
        behaviour = self.service.cells.what(cell, "things")
        if behaviour == "hang":
            self.service.cells.hold()
        if behaviour == "crash-schemathesis" and self.headers.get("User-Agent", "").startswith("schemathesis"):
            crash_schemathesis(cell)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, answer_headers, answer = self.service.api.answer(cell, self.command, headers, body)
        self.send_response(status)
        for name, value in answer_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)

    def _other(self) -> None:
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) == 3 and parts[0] == "c" and parts[2] == "things":
            self.service.cells.hit(parts[1], "things").set()
            self._things(parts[1])
        else:
            self.send_error(404)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_TRACE = _other

    def version_string(self) -> str:
        return "matrix"  # no version banner (the api check reports one)

    def log_message(self, *args: Any) -> None:
        pass


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA (its certificate is the bundle pip-audit trusts) and a pypi.org certificate it signed."""
    folder.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    (folder / "leaf.cnf").write_text("subjectAltName=DNS:pypi.org\nbasicConstraints=CA:FALSE\n"
                                     "extendedKeyUsage=serverAuth\n")
    commands = [
        ["openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
         "-subj", "/CN=readiness fault matrix test CA"],
        ["openssl", "req", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=pypi.org"],
        ["openssl", "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "leaf.pem", "-days", "2", "-extfile", "leaf.cnf"],
    ]
    for command in commands:
        subprocess.run(command, cwd=folder, check=True, capture_output=True, timeout=60)
    return folder / "ca.pem", folder / "leaf.pem", folder / "leaf.key"


class VulnService:
    """STAND-IN for PyPI's JSON API as pip-audit asks it, reached as an HTTPS proxy (see the module doc)."""

    def __init__(self, cells: Cells, folder: Path) -> None:
        self.cells = cells
        self.ca, leaf, key = make_certificates(folder)
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.tls.load_cert_chain(leaf, key)
        handler = type("Handler", (_ProxyHandler,), {"service": self})
        self.server = _QuietTCPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def env(self, cell: str) -> dict[str, str]:
        """What the gate's environment needs so that pip-audit asks this stand-in, as ``cell``."""
        port = self.server.server_address[1]
        return {"HTTPS_PROXY": f"http://{cell}:x@127.0.0.1:{port}", "https_proxy": f"http://{cell}:x@127.0.0.1:{port}",
                "REQUESTS_CA_BUNDLE": str(self.ca)}

    def answer(self, cell: str, path: str) -> tuple[int, bytes]:
        """PyPI's answer for ``/pypi/<name>/<version>/json``: that release, with no known vulnerability."""
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "pypi" or parts[3] != "json":
            return 404, b'{"message": "Not Found"}'
        name, version = parts[1], parts[2]
        return 200, json.dumps({"info": {"name": name, "version": version}, "urls": [], "vulnerabilities": []}).encode()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _ProxyHandler(socketserver.BaseRequestHandler):
    service: VulnService

    def handle(self) -> None:
        head = _read_head(self.request)
        cell = _proxy_user(head)
        cells = self.service.cells
        cells.hit(cell, "vulnerability service").set()
        behaviour = cells.what(cell, "vulnerability service")
        if behaviour == "hang":
            cells.hold()
            return
        if behaviour == "crash-tool":
            cells.crash_tool(cell)
            return
        self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        with self.service.tls.wrap_socket(self.request, server_side=True) as tls:
            request = _read_head(tls)
            path = request.split(b" ")[1].decode() if request.count(b" ") >= 2 else "/"
            status, body = self.service.answer(cell, path)
            tls.sendall(b"HTTP/1.1 %d OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
                        b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body))


def _read_head(sock: socket.socket | ssl.SSLSocket) -> bytes:
    """The request line and headers, read byte by byte so that nothing after them is swallowed."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        if not byte:
            break
        head += byte
    return head


def _proxy_user(head: bytes) -> str:
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "proxy-authorization":
            credentials = base64.b64decode(value.strip().split()[-1]).decode()
            return credentials.split(":")[0]
    return "unknown"


ZAP_STANDIN = r'''#!{python}
"""STAND-IN for zap-baseline.py (ZAP cannot run here): replays real output, exits with its codes."""
import json, os, pathlib, signal, sys, time, urllib.request

args = sys.argv[1:]
target = args[args.index("-t") + 1]
report = pathlib.Path(args[args.index("-J") + 1])
fault = os.environ.get("READINESS_ZAP_STANDIN_FAULT", "")
fixtures = pathlib.Path({fixtures!r})
signal.signal(signal.SIGINT, lambda *_: sys.exit(130))  # Ctrl-C: stop, no report
print("Using the Automation Framework", flush=True)
try:  # zap-baseline first checks that the target answers
    urllib.request.urlopen(target + "/health", timeout=5).read()
except OSError as exc:
    print(f"ERROR Failed to access: {{target}} ({{exc}})", flush=True)
    sys.exit(3)
if fault == "crash":
    os.kill(os.getpid(), signal.SIGSEGV)
if fault in ("hang", "sigterm"):
    pathlib.Path(os.environ["READINESS_ZAP_STANDIN_MARKER"]).write_text("scanning")
    time.sleep(600)
document = json.loads((fixtures / "json" / "bcgov-bc-emli-vhers-scan-zap2.14.0-report_json.json").read_text())
document["site"][0]["@name"] = target
text = json.dumps(document)
if fault == "truncated":
    text = text[: len(text) // 2]
elif fault == "empty":
    text = ""
elif fault == "hostile":  # a risk code no ZAP writes: NaN is a float, and above every threshold nothing
    document["site"][0]["alerts"][0]["riskcode"] = "NaN"
    text = json.dumps(document)
report.write_text(text)
print((fixtures / "baseline-stdout" / "zaproxy-baseline1-1.out").read_text(), flush=True)
sys.exit(2)  # WARN only, as the replayed stdout says
'''


def zap_output_written_here(root: Path) -> Path:
    """STAND-IN output for when ../shared is absent: a ZAP traditional JSON report and zap-baseline's
    closing stdout, written by this test in the documented formats (the real ones are replayed when
    ../shared/fixtures/real/zap is there). One low-risk alert with one instance; 56 rules passed."""
    folder = root / "zap-output-written-here"
    (folder / "json").mkdir(parents=True)
    (folder / "baseline-stdout").mkdir()
    alert = {"pluginid": "10021", "alertRef": "10021", "alert": "X-Content-Type-Options Header Missing",
             "name": "X-Content-Type-Options Header Missing", "riskcode": "1", "confidence": "2",
             "riskdesc": "Low (Medium)", "desc": "<p>The header is not set to 'nosniff'.</p>",
             "instances": [{"uri": "http://127.0.0.1/", "method": "GET", "param": "x-content-type-options",
                            "attack": "", "evidence": "", "otherinfo": ""}],
             "count": "1", "solution": "<p>Set the header to 'nosniff'.</p>", "otherinfo": "",
             "reference": "<p>https://owasp.org/www-community/Security_Headers</p>", "cweid": "693",
             "wascid": "15", "sourceid": "1"}
    report = {"@programName": "ZAP", "@version": "2.14.0", "@generated": "Mon, 30 Nov 2026 12:00:00",
              "site": [{"@name": "http://127.0.0.1", "@host": "127.0.0.1", "@port": "80", "@ssl": "false",
                        "alerts": [alert]}]}
    (folder / "json" / "bcgov-bc-emli-vhers-scan-zap2.14.0-report_json.json").write_text(json.dumps(report))
    (folder / "baseline-stdout" / "zaproxy-baseline1-1.out").write_text(
        "WARN-NEW: X-Content-Type-Options Header Missing [10021] x 1 \n"
        "FAIL-NEW: 0\tFAIL-INPROG: 0\tWARN-NEW: 1\tWARN-INPROG: 0\tINFO: 0\tIGNORE: 0\tPASS: 56\n")
    return folder


def write_script(path: Path, text: str) -> Path:
    """An executable script."""
    path.write_text(text)
    path.chmod(0o755)
    return path


def pid_wrapper(path: Path, real: str, pid_file: Path) -> Path:
    """A program that records its pid, then becomes the real tool (exec keeps the pid)."""
    return write_script(path, f'#!/bin/sh\necho $$ >> "{pid_file}"\nexec "{real}" "$@"\n')


DAMAGE = Path(__file__).with_name("damage.py")


def damage_command(mode: str, target: str, *tool: str) -> list[str]:
    """The command line that runs ``tool`` and then damages its evidence (tests/faults/damage.py)."""
    return [sys.executable, str(DAMAGE), mode, target, *tool]


def damaging_wrapper(path: Path, mode: str, target: str, real: str) -> Path:
    """A program that runs the real tool, then damages its evidence."""
    command = " ".join(f'"{part}"' for part in damage_command(mode, target, real))
    return write_script(path, f'#!/bin/sh\nexec {command} "$@"\n')


def crashing_after(path: Path, real: str) -> Path:
    """A program that runs the real tool to its end, then dies of SIGSEGV (its output is already out)."""
    return write_script(path, f'#!/bin/sh\n"{real}" "$@"\nkill -SEGV $$\n')


def release_all(cells: Cells, *closers: Callable[[], None]) -> None:
    """End every held answer, then stop the servers."""
    cells.released.set()
    for close in closers:
        close()
