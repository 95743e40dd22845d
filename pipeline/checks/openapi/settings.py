"""``checks.openapi``: every key of the openapi check, with its default and meaning.

The defaults live here and nowhere else.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pydantic import Field

from pipeline.checks.interface import CheckSettings


class OpenApiSettings(CheckSettings):
    """The openapi check's configuration."""

    spec: str = Field("", description="the spec: a file (JSON or YAML), or the URL the running service serves it at")
    require_responses: tuple[str, ...] = Field(("400", "401", "500"), json_schema_extra={"stricter": "more"},
                                               description="status codes every operation must document")
    require_sla: bool = Field(True, json_schema_extra={"stricter": "true"},
                              description="every operation needs an x-sla with a finite p95_ms > 0")
    served_spec: str | None = Field(
        None, description="the spec the running service serves (a URL, or a path joined to base_url); operations "
                          "it lists that the spec file lacks make the check an error")
    base_url: str | None = Field(None, description="joined with a served_spec path (default: "
                                                   "READINESS_BASE_URL, else service.base_url)")

    def fetches_from_service(self) -> bool:
        """Whether the check reads from the service under test: ``served_spec`` is set, or ``spec`` is a loopback URL.

        The gate starts its service on 127.0.0.1, so a spec fetched from a loopback address is
        the service's own; a spec on another host is somebody else's to run.
        """
        return bool(self.served_spec) or _is_loopback_url(self.spec)


def _is_loopback_url(text: str) -> bool:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False
