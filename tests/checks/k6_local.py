"""A tiny HTTP server on 127.0.0.1 for the k6 raw-sample tests: ``/wait?ms=N`` answers after N ms,
``/fail`` with 500; the real k6 runs against it."""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Each iteration waits a spread of times (0-38 ms by iteration number, times SCALE) so percentiles have shape.
SCRIPT = """
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';
export default function () {
  const ms = ((exec.scenario.iterationInTest * 7) % 39) * Number(__ENV.SCALE || 1);
  const r = http.get(`${__ENV.BASE_URL}/wait?ms=${ms}`, { tags: { name: 'wait' } });
  check(r, { 'wait is 200': (x) => x.status === 200 });
  if (exec.scenario.iterationInTest % 10 === 0) {
    http.get(`${__ENV.BASE_URL}/fail`, { tags: { name: 'fail' } });
  }
}
"""


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        status = 500 if url.path == "/fail" else 200
        wait = urllib.parse.parse_qs(url.query).get("ms", ["0"])[0]
        time.sleep(int(wait) / 1000)
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def local_server() -> Iterator[str]:
    """The server's base URL while it runs."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
