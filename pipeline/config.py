"""Load ``configs/readiness.yaml``: expand ``${VAR}``, apply the profile, validate, type.

Every problem raises ConfigError with the file, the key path and what is wrong,
before any check runs (the CLI maps it to exit code 3).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from pipeline.model import Waiver
from pipeline.redact import register_secret

DEFAULT_CONFIG = Path("configs/readiness.yaml")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Values of variables with these words in their names are secrets: scrubbed from every report.
_SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|DATABASE_URL|DSN|API_KEY", re.IGNORECASE)


class ConfigError(Exception):
    """The configuration cannot be used; the message names file, key and problem."""


@dataclass(frozen=True)
class Config:
    """The validated configuration with the chosen profile applied."""

    path: Path
    profile: str
    data: dict[str, Any]

    def check_settings(self, name: str) -> dict[str, Any]:
        """Settings of one check (an empty mapping when the config does not mention it)."""
        settings: dict[str, Any] = self.data.get("checks", {}).get(name) or {}
        return settings

    def enabled(self, name: str) -> bool:
        """A check runs unless its settings say ``enabled: false``."""
        return bool(self.check_settings(name).get("enabled", True))

    def timeout_s(self, name: str) -> float:
        """Per-check time budget: the check's own ``timeout_s`` or the default."""
        default = self.data.get("defaults", {}).get("timeout_s", 900)
        return float(self.check_settings(name).get("timeout_s", default))

    @property
    def waivers(self) -> tuple[Waiver, ...]:
        """Waivers from the config, typed."""
        return tuple(Waiver.from_dict(w) for w in self.data.get("waivers", ()))

    @property
    def service(self) -> dict[str, Any]:
        """The ``service`` section."""
        return dict(self.data.get("service", {}))

    def digest(self) -> str:
        """SHA-256 of the resolved config (profile applied), for the sign-off record."""
        canonical = json.dumps(self.data, sort_keys=True, default=str).encode()
        return hashlib.sha256(canonical).hexdigest()


def load_config(path: Path | None = None, profile: str | None = None,
                env: Mapping[str, str] | None = None) -> Config:
    """Read, expand, merge the profile and validate; raise ConfigError on any problem."""
    path = path or DEFAULT_CONFIG
    raw = read_yaml(path)
    env = os.environ if env is None else env
    chosen = profile or raw.get("profile") or "local"
    profiles = raw.get("profiles") or {}
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: profiles: must be a mapping of profile name to overrides")
    if chosen not in ("local", "release"):
        raise ConfigError(f"{path}: profile: '{chosen}' is not a profile (use local or release)")
    merged = deep_merge(raw, profiles.get(chosen) or {})
    merged["profile"] = chosen
    validate(merged, path)
    expanded = expand_env(merged, env, path)
    validate(expanded, path)
    return Config(path=path, profile=chosen, data=expanded)


def read_yaml(path: Path) -> dict[str, Any]:
    """The YAML mapping in ``path``, dates turned into ISO strings."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: the config file does not exist. Create it (see README, 'Configuration') "
            f"or pass --config."
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: {where}not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping with 'version: 1' and 'checks'")
    converted: dict[str, Any] = _dates_to_text(data)
    return converted


def deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``: mappings merge key by key, anything else is replaced."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def expand_env(node: Any, env: Mapping[str, str], path: Path, keys: tuple[str, ...] = ()) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string; a missing VAR is an error."""
    if isinstance(node, dict):
        return {k: expand_env(v, env, path, (*keys, str(k))) for k, v in node.items()}
    if isinstance(node, list):
        return [expand_env(v, env, path, (*keys, str(i))) for i, v in enumerate(node)]
    if not isinstance(node, str):
        return node

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise ConfigError(
                    f"{path}: {_dotted(keys)}: environment variable {name} is not set and has no "
                    f"default; export {name} or write ${{{name}:-default}}"
                )
            value = default
        elif _SECRET_NAME.search(name):
            register_secret(value)
        return value

    return _ENV_REF.sub(substitute, node)


def validate(data: dict[str, Any], path: Path) -> None:
    """Check ``data`` against the shipped JSON Schema; list every problem with its key path."""
    validator = jsonschema.Draft202012Validator(config_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        raise ConfigError("\n".join(f"{path}: {_describe(e)}" for e in errors))


def config_schema() -> dict[str, Any]:
    """The JSON Schema shipped inside the package."""
    text = resources.files("pipeline.schemas").joinpath("config.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def _describe(error: jsonschema.ValidationError) -> str:
    keys = _dotted(tuple(str(p) for p in error.absolute_path))
    if error.validator == "additionalProperties" and isinstance(error.schema, dict):
        allowed = sorted(error.schema.get("properties", {}))
        instance: dict[str, Any] = error.instance if isinstance(error.instance, dict) else {}
        unknown = sorted(set(instance) - set(allowed))
        return f"{keys}: unknown key {', '.join(map(repr, unknown))} (allowed: {', '.join(allowed)})"
    if error.validator == "required":
        return f"{keys}: {error.message}"
    return f"{keys}: {error.message}"


def _dotted(keys: tuple[str, ...]) -> str:
    return ".".join(keys) if keys else "(top level)"


def _dates_to_text(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _dates_to_text(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_dates_to_text(v) for v in node]
    if isinstance(node, dt.date):
        return node.isoformat()
    return node

