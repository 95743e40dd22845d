"""The gate as the registry makes it: the config schema with every check's section, typed settings,
and which checks need the service under test.

The one place where the config (below the checks) meets the registry (the checks): the
CLI, the runner and the tests load configs through here, so a new check's settings are
known everywhere as soon as its package exists.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline import config as config_module
from pipeline.checks.interface import CheckSettings
from pipeline.checks.registry import registry
from pipeline.config import Config, ConfigError


@functools.cache
def _composed_schema() -> dict[str, Any]:
    schema = config_module.config_schema()
    checks = schema["properties"]["checks"]
    sections: dict[str, Any] = {}
    definitions = schema.setdefault("$defs", {})
    for check in registry().checks:
        section = check.Settings.model_json_schema(ref_template=f"#/$defs/{check.name}.{{model}}")
        for name, definition in section.pop("$defs", {}).items():
            definitions[f"{check.name}.{name}"] = definition
        sections[check.name] = section
    checks["properties"] = sections
    checks["additionalProperties"] = False
    schema["properties"]["waivers"]["items"]["properties"]["check"]["enum"] = list(registry().names())
    return schema


def config_schema() -> dict[str, Any]:
    """The whole config schema: the base schema plus one section per registered check."""
    return copy.deepcopy(_composed_schema())


def load_config(path: Path | None = None, profile: str | None = None,
                env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config (every check's section included); ConfigError names file, key, problem."""
    loaded = config_module.load_config(path, profile, env, schema=_composed_schema())
    for name in registry().names():
        check_settings(loaded, name)  # a section the schema accepts but the settings refuse is an error now
    return loaded


def check_settings(config: Config, name: str) -> CheckSettings:
    """What check ``name`` receives: its typed settings."""
    data = config.check_settings(name)
    try:
        settings: CheckSettings = registry().settings(name, data)
    except ValueError as exc:
        raise ConfigError(f"{config.path}: {exc}") from None
    return settings


def target_checks(config: Config, selected: Iterable[str]) -> list[str]:
    """The enabled checks among ``selected`` that need the service under test, with their settings."""
    names = []
    for name in selected:
        if name in registry().names() and config.enabled(name):
            check = registry().get(name)
            settings = check_settings(config, name)
            if settings.not_applicable is None and check.wants_target(settings):
                names.append(name)
    return names
