"""One pull-request comment with the verdict, kept up to date: found by its hidden marker, edited.

The comment starts with ``<!-- readiness-gate -->``. Every run lists the PR's comments
(all pages), edits the first one that starts with the marker *and* was written by the
gate's own account (``comment-author``, by default the Actions bot), and creates one
only when there is none; a comment by anyone else is never touched, marker or not.
The token comes from the environment and is never printed: errors name the request
and the status, not the headers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from pipeline.redact import redact

MARKER = "<!-- readiness-gate -->"
DEFAULT_AUTHOR = "github-actions[bot]"
MAX_BODY = 65_000  # GitHub refuses comment bodies over 65536 characters
MAX_PAGES = 50
TIMEOUT_S = 30


class CommentError(Exception):
    """The GitHub API refused or failed a request (message safe to print)."""


@dataclass(frozen=True)
class PullRequest:
    """Where the comment goes: ``owner/name`` and the PR number, on which API."""

    api_url: str
    repository: str
    number: int


def body_for(markdown: str, run_url: str) -> str:
    """The comment: marker, the Markdown summary (cut to fit), a link to the run."""
    footer = f"\n\n[Workflow run]({run_url})" if run_url else ""
    text = markdown.rstrip()
    room = MAX_BODY - len(MARKER) - len(footer) - 2
    if len(text) > room:
        text = text[:room - 40].rstrip() + "\n\n… (cut; the full report is in the artifact)"
    return f"{MARKER}\n{text}{footer}\n"


def upsert(pr: PullRequest, body: str, token: str, author: str = DEFAULT_AUTHOR,
           session: requests.Session | None = None) -> tuple[str, int]:
    """Edit the gate's marked comment or create it; returns ("edited" | "created", comment id)."""
    http = session or requests.Session()
    http.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                         "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "readiness-gate"})
    base = f"{pr.api_url.rstrip('/')}/repos/{pr.repository}"
    for comment in _comments(http, f"{base}/issues/{pr.number}/comments"):
        if _ours(comment, author):
            _send(http, "PATCH", f"{base}/issues/comments/{int(comment['id'])}", body)
            return "edited", int(comment["id"])
    created = _send(http, "POST", f"{base}/issues/{pr.number}/comments", body)
    return "created", int(created["id"])


def _ours(comment: Mapping[str, Any], author: str) -> bool:
    user = comment.get("user") or {}
    return (str(comment.get("body") or "").startswith(MARKER) and user.get("login") == author
            and isinstance(comment.get("id"), int))


def _comments(http: requests.Session, url: str) -> Iterator[Mapping[str, Any]]:
    """Every comment of the PR, following the ``Link: rel=next`` pages."""
    next_url: str | None = url
    params: dict[str, int] | None = {"per_page": 100}
    for _ in range(MAX_PAGES):
        if next_url is None:
            return
        response = _request(http, "GET", next_url, params=params)
        page = response.json()
        if not isinstance(page, list):
            raise CommentError(f"GET {url}: expected a list of comments, got {type(page).__name__}")
        yield from (c for c in page if isinstance(c, dict))
        next_url, params = response.links.get("next", {}).get("url"), None
        if next_url is not None and not next_url.startswith(url.split("/repos/", 1)[0] + "/"):
            # The session sends the token with every request: never to another host.
            raise CommentError(f"GET {url}: the next page is on another host")
    raise CommentError(f"GET {url}: more than {MAX_PAGES} pages of comments")


def _send(http: requests.Session, method: str, url: str, body: str) -> Mapping[str, Any]:
    data = _request(http, method, url, json={"body": body}).json()
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        raise CommentError(f"{method} {url}: the answer holds no comment id")
    return data


def _request(http: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
    try:
        response = http.request(method, url, timeout=TIMEOUT_S, **kwargs)
    except requests.RequestException as exc:
        raise CommentError(redact(f"{method} {url}: {type(exc).__name__}")) from None
    if response.status_code >= 400:
        message = ""
        with contextlib.suppress(ValueError, AttributeError):
            message = str(response.json().get("message", ""))
        raise CommentError(redact(f"{method} {url}: HTTP {response.status_code} {message[:200]}".rstrip()))
    return response
