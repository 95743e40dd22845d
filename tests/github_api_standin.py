"""A STAND-IN for GitHub's REST API (issue comments only), on 127.0.0.1, recording every request.

The real API cannot be reached from the tests. This serves what the PR-comment step
uses, shaped as GitHub documents it: ``GET /repos/{o}/{r}/issues/{n}/comments`` with
``per_page``/``page`` and a ``Link: <...>; rel="next"`` header, ``POST`` to the same
path, ``PATCH /repos/{o}/{r}/issues/comments/{id}``; each comment has ``id``,
``body`` and ``user.login``. ``refuse`` makes every write answer 403 as a fork PR's
read-only token gets.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

BOT = "github-actions[bot]"


@dataclass
class Recorded:
    """What the stand-in saw and holds."""

    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path+query, Authorization
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    refuse: bool = False
    base_url: str = ""
    next_id: int = 1000

    def add(self, body: str, login: str) -> int:
        """Add a comment as ``login``; its id."""
        self.next_id += 1
        self.comments[self.next_id] = {"id": self.next_id, "body": body, "user": {"login": login, "type": "User"}}
        return self.next_id


def _handler(state: Recorded, repo: str, number: int) -> type[BaseHTTPRequestHandler]:
    listing = f"/repos/{repo}/issues/{number}/comments"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _record(self) -> tuple[str, dict[str, list[str]]]:
            state.requests.append((self.command, self.path, self.headers.get("Authorization", "")))
            parts = urlsplit(self.path)
            return parts.path, parse_qs(parts.query)

        def do_GET(self) -> None:
            path, query = self._record()
            if path != listing:
                return self._answer(404, {"message": "Not Found"})
            per_page, page = int(query.get("per_page", ["30"])[0]), int(query.get("page", ["1"])[0])
            everything = sorted(state.comments.values(), key=lambda c: c["id"])
            chunk = everything[(page - 1) * per_page: page * per_page]
            headers = {}
            if page * per_page < len(everything):
                headers["Link"] = f'<{state.base_url}{listing}?per_page={per_page}&page={page + 1}>; rel="next"'
            return self._answer(200, chunk, headers)

        def _body(self) -> str:
            data = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            return str(data["body"])

        def do_POST(self) -> None:
            path, _ = self._record()
            body = self._body()
            if state.refuse:
                return self._answer(403, {"message": "Resource not accessible by integration"})
            if path != listing:
                return self._answer(404, {"message": "Not Found"})
            return self._answer(201, state.comments[state.add(body, BOT)])

        def do_PATCH(self) -> None:
            path, _ = self._record()
            body = self._body()
            comment_id = int(path.rsplit("/", 1)[-1]) if path.startswith(f"/repos/{repo}/issues/comments/") else 0
            if state.refuse:
                return self._answer(403, {"message": "Resource not accessible by integration"})
            if comment_id not in state.comments:
                return self._answer(404, {"message": "Not Found"})
            state.comments[comment_id]["body"] = body
            return self._answer(200, state.comments[comment_id])

    return Handler


@contextmanager
def github_api(repo: str, number: int) -> Iterator[tuple[str, Recorded]]:
    """The stand-in's base URL (use as GITHUB_API_URL) and what it records, while in the block."""
    state = Recorded()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state, repo, number))
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state.base_url, state
    finally:
        server.shutdown()
        server.server_close()
