"""``python -m orders_service.openapi_export``: write the committed ``openapi.json``.

The spec is generated from the code (FastAPI) and committed, so reviewers see API
changes in diffs; a test fails when the two drift apart.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from orders_service.app import create_app
from orders_service.settings import Settings

SPEC_FILE = Path(__file__).resolve().parent.parent / "openapi.json"


def generated_spec() -> dict[str, Any]:
    """The OpenAPI document FastAPI generates from the code."""
    # The spec does not depend on the settings; placeholders keep the export offline.
    app = create_app(Settings(database_url="postgresql://unused", jwt_secret="unused"))  # noqa: S106
    return app.openapi()


def render(spec: dict[str, Any]) -> str:
    """The spec as the committed file holds it (sorted keys, two-space indent)."""
    return json.dumps(spec, indent=2, sort_keys=True) + "\n"


def main() -> int:
    """Write the generated spec to ``openapi.json``; the exit code."""
    SPEC_FILE.write_text(render(generated_spec()))
    print(f"wrote {SPEC_FILE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
