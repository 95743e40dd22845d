"""The digest of the settings a check ran under, so a verdict can tell results of another config apart.

Each result records ``settings_digest``: SHA-256 over canonical JSON of the check's typed
settings after the profile merge (every default filled in) and the waivers of that check.
``readiness verdict`` computes the same digest from the config it is given and holds every
result to it (``pipeline.results.held_to_settings``): results gathered from several jobs
can never carry a looser config than the one the verdict records.

The settings are taken *before* ``${VAR}`` expansion: a DSN, a token or the base URL of a
service started on a random port come from the environment, which differs between the job
that ran a check and the job that aggregates (and holds secrets). What is hashed is the
reference ``${READINESS_DATABASE_URL}``, never its value; so no secret of the environment
enters the digest, and thresholds, which the config schema requires to be written as
numbers, are always in it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pipeline.config import Config

DIGEST_PREFIX = "sha256:"


def settings_digest(config: Config, name: str, checks: dict[str, Any] | None = None) -> str | None:
    """The digest of check ``name``'s settings in ``config``; None for a check this gate does not have.

    ``checks``: the config's unexpanded ``checks`` section, when the caller has read it already."""
    from pipeline.checks.registry import registry  # the registry imports the checks, which import config

    if name not in registry().names():
        return None
    section = (checks if checks is not None else _unexpanded(config)).get(name)
    try:
        settings: Any = registry().settings(name, section if isinstance(section, dict) else {})
        shown: Any = settings.model_dump(mode="json", by_alias=True)
    except ValueError:  # a ${VAR} where the settings want something else: the text as written is what ran
        shown = {"unvalidated": section}
    waivers = sorted((w.to_dict() for w in config.waivers if w.check == name), key=lambda w: json.dumps(w))
    canonical = json.dumps({"check": name, "settings": shown, "waivers": waivers}, sort_keys=True,
                           separators=(",", ":"), default=str)
    return DIGEST_PREFIX + hashlib.sha256(canonical.encode()).hexdigest()


def expected_digests(config: Config) -> dict[str, str]:
    """The digest of every check of this gate under ``config``."""
    from pipeline.checks.registry import registry

    checks = _unexpanded(config)
    return {name: digest for name in registry().names() if (digest := settings_digest(config, name, checks))}


def _unexpanded(config: Config) -> dict[str, Any]:
    """The ``checks`` section of ``config`` with its profile merged, ``${VAR}`` left as written
    (the loaded, expanded sections for a config made in memory)."""
    checks = (config.unexpanded if config.unexpanded is not None else config.data).get("checks")
    return checks if isinstance(checks, dict) else {}
