"""A k6 script skeleton from an OpenAPI spec: one tagged request per operation, TODO where a value is needed.

Operations without path parameters or a request body are called as they are; the others are
written as TODO comments, because a made-up id or body would measure an error path, not the
service. The gate gives the script BASE_URL (and API_TOKEN) and sets the load shape itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from pipeline import yamlsafe

METHODS = ("get", "post", "put", "patch", "delete")


def read_spec(path: Path) -> dict[str, Any] | None:
    """The spec's document, or None when it cannot be read (init then leaves the script a TODO)."""
    try:
        text = path.read_text(encoding="utf-8")
        document = json.loads(text) if path.suffix == ".json" else yamlsafe.load(text, path)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def skeleton(spec: dict[str, Any]) -> str:
    """The script: a ``name`` tag per endpoint (its operationId, else method and path), so results are per endpoint."""
    calls, todos = [], []
    found = spec.get("paths")
    paths: dict[str, Any] = found if isinstance(found, dict) else {}
    for path, item in sorted(paths.items()):
        for method in METHODS:
            operation = item.get(method) if isinstance(item, dict) else None
            if not isinstance(operation, dict):
                continue
            name = _name(operation.get("operationId"), method, path)
            if "{" in path or "requestBody" in operation:
                todos.append(f"  // TODO: {method.upper()} {path} ({name}): needs real ids or a body")
            else:
                calls.append(f"  call('{method}', '{_js(path)}', '{name}');")
    return "\n".join([
        "// k6 load script skeleton written by `readiness init` from the OpenAPI spec. TODO: review the mix.",
        "// The gate passes BASE_URL and API_TOKEN and sets the load shape and the thresholds itself.",
        "import http from 'k6/http';", "import { check } from 'k6';", "",
        "const BASE_URL = __ENV.BASE_URL;", "const TOKEN = __ENV.API_TOKEN || '';", "",
        "function call(method, path, name) {",
        "  const params = { tags: { name }, headers: TOKEN ? { Authorization: `Bearer ${TOKEN}` } : {} };",
        "  const res = http.request(method.toUpperCase(), `${BASE_URL}${path}`, null, params);",
        "  check(res, { [`${name} is 2xx`]: (r) => r.status >= 200 && r.status < 300 });", "}", "",
        "export default function () {", *(calls or ["  // TODO: no operation could be called as it is"]),
        *todos, "}", ""])


def _name(operation_id: Any, method: str, path: str) -> str:
    text = operation_id if isinstance(operation_id, str) and operation_id else f"{method}_{path}"
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_") or method


def _js(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")
