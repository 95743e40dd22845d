"""Load ``configs/readiness.yaml``: expand ``${VAR}``, apply the profile, validate, type.

Which file (``discover``): ``--config``, else ``$READINESS_CONFIG``, else ``configs/readiness.yaml``,
else the ``[tool.readiness]`` table of ``pyproject.toml``. Which profile: ``--profile``, else
``$READINESS_PROFILE``, else the config's ``profile:``, else ``local``; ``local`` and ``release``
always exist, any other name must be defined under ``profiles:``.

Every problem raises ConfigError with the file, the key path and what is wrong,
before any check runs (the CLI maps it to exit code 3).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from pipeline import yamlsafe
from pipeline.errors import ParseError
from pipeline.model import Waiver
from pipeline.redact import is_secret_name, redact, register_environment, register_secret

DEFAULT_CONFIG = Path("configs/readiness.yaml")
PYPROJECT = Path("pyproject.toml")
BUILTIN_PROFILES = ("local", "release")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
MAX_CONFIG_BYTES = 1 << 20
# A real config has a few hundred nodes; aliases may repeat parts, not multiply them a millionfold.
MAX_EXPANDED_NODES = 100_000


class ConfigError(Exception):
    """The configuration cannot be used; the message names file, key and problem."""


@dataclass(frozen=True)
class Config:
    """The validated configuration with the chosen profile applied."""

    path: Path
    profile: str
    data: dict[str, Any]
    # The same document before ${VAR} expansion (profile merged): what the settings digests hash,
    # taken from the bytes that were loaded, never from a second read of a file that may have changed.
    # None for a config made in memory.
    unexpanded: dict[str, Any] | None = field(default=None, compare=False, repr=False)

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
    def approvals(self) -> tuple[dict[str, Any], ...]:
        """Approval records of loosened policy settings (``approvals``; typed by pipeline.policy)."""
        return tuple(self.data.get("approvals", ()))

    @property
    def deltas(self) -> dict[str, Any]:
        """Rules on the change since the baseline (``deltas``)."""
        return dict(self.data.get("deltas", {}))

    @property
    def service(self) -> dict[str, Any]:
        """The ``service`` section."""
        return dict(self.data.get("service", {}))

    def digest(self) -> str:
        """SHA-256 of the resolved config (profile applied), for the sign-off record."""
        canonical = json.dumps(self.data, sort_keys=True, default=str).encode()
        return hashlib.sha256(canonical).hexdigest()


def load_config(path: Path | None = None, profile: str | None = None,
                env: Mapping[str, str] | None = None, schema: Mapping[str, Any] | None = None) -> Config:
    """Read, expand, merge the profile and validate; raise ConfigError on any problem.

    ``schema`` is the whole config schema (the gate composes it from the base schema and
    every check's settings: ``pipeline.gate.config_schema``); without it only the keys
    outside ``checks`` are known.
    """
    schema = schema if schema is not None else config_schema()
    env = os.environ if env is None else env
    path = discover(path, env)
    raw = read_pyproject(path) if path.name == PYPROJECT.name else read_yaml(path)
    # Every secret-looking variable is masked, named in the config or not; again on each load,
    # since the runner adds the service under test's READINESS_* variables and reloads.
    register_environment(env)
    chosen = profile or env.get("READINESS_PROFILE") or raw.get("profile") or "local"
    merged = apply_profile(raw, str(chosen), path)
    validate(merged, path, schema)
    expanded = expand_env(merged, env, path)
    validate(expanded, path, schema)
    return Config(path=path, profile=str(chosen), data=expanded, unexpanded=merged)


def discover(path: Path | None, env: Mapping[str, str]) -> Path:
    """The config file to read: the one given, $READINESS_CONFIG, configs/readiness.yaml, pyproject.toml."""
    if path is not None:
        return path
    if env.get("READINESS_CONFIG"):
        return Path(env["READINESS_CONFIG"])
    if not DEFAULT_CONFIG.exists() and _has_tool_table(PYPROJECT):
        return PYPROJECT
    return DEFAULT_CONFIG  # when it is missing too, the error names the usual place


def _has_tool_table(path: Path) -> bool:
    try:
        return "[tool.readiness" in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def read_pyproject(path: Path) -> dict[str, Any]:
    """The ``[tool.readiness]`` table of a pyproject.toml, as the YAML config would read."""
    import tomllib

    try:
        data = tomllib.loads(_read_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    table = data.get("tool", {}).get("readiness")
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: has no [tool.readiness] table; add one or pass --config")
    converted: dict[str, Any] = _text_keys(_dates_as_text(table))
    _refuse_non_finite(converted, path, ())
    return converted


def _dates_as_text(node: Any) -> Any:
    """TOML dates become the text they were written as, like the YAML loader keeps them."""
    if isinstance(node, dict):
        return {k: _dates_as_text(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_dates_as_text(v) for v in node]
    return node.isoformat() if hasattr(node, "isoformat") else node


def apply_profile(raw: dict[str, Any], chosen: str, path: Path) -> dict[str, Any]:
    """``raw`` with the overrides of profile ``chosen`` merged over it; ConfigError for an unknown profile."""
    profiles = raw.get("profiles") or {}
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: profiles: must be a mapping of profile name to overrides")
    if chosen not in BUILTIN_PROFILES and chosen not in profiles:
        defined = sorted({*BUILTIN_PROFILES, *profiles})
        raise ConfigError(f"{path}: profile: '{chosen}' is not a profile (defined: {', '.join(defined)}); "
                          f"add it under profiles: or choose another")
    override = profiles.get(chosen) or {}
    if not isinstance(override, dict):
        raise ConfigError(f"{path}: profiles.{chosen}: must be a mapping of keys to override")
    merged = deep_merge(raw, override)
    merged["profile"] = chosen
    return merged


def read_yaml(path: Path) -> dict[str, Any]:
    """The YAML mapping in ``path``: UTF-8, bounded in size and alias expansion, no duplicate keys.

    Dates stay as the text they were written as; a number that is not finite is refused.
    """
    # A copy: callers merge profiles into what they get, and the parsed document is kept (see _yaml_mapping).
    return copy.deepcopy(_yaml_mapping(_read_text(path), path))


@functools.lru_cache(maxsize=4)
def _yaml_mapping(text: str, path: Path) -> dict[str, Any]:
    """The checked mapping ``text`` holds. Kept per text: the commands of one ``readiness batch`` read the
    same config again and again, and the pure-Python composer (line numbers, alias budget) takes 33 ms a parse."""
    try:
        data: Any = _parse_yaml(text, path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: {where}not valid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{path}: the YAML is nested too deeply to be a configuration") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping with 'version: 1' and 'checks'")
    converted: dict[str, Any] = _text_keys(data)
    _refuse_non_finite(converted, path, ())
    return converted


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: {size} bytes is too large for a configuration file "
                              f"(limit {MAX_CONFIG_BYTES}); is it the right file?")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: the config file does not exist. Create it (see README, 'Configuration') "
            f"or pass --config."
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line}: not UTF-8 (byte 0x{data[exc.start]:02x}); "
                          f"save the file as UTF-8") from None


def _parse_yaml(text: str, path: Path) -> Any:
    """Strictly loaded (duplicate keys refused), aliases allowed to add at most MAX_EXPANDED_NODES values."""
    try:
        return yamlsafe.load(text, path, loader=_StrictLoader, max_expansion=MAX_EXPANDED_NODES)
    except ParseError as exc:
        raise ConfigError(exc.reason) from None


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and keeps timestamps as the text written."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[tuple[str, str], int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            identity = (key_node.tag, key_node.value)
            line = key_node.start_mark.line + 1
            if identity in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key_node.value}' (first on line {seen[identity]}); "
                    f"YAML would silently keep only the last one", key_node.start_mark)
            seen[identity] = line
        mapping: dict[Any, Any] = super().construct_mapping(node, deep)
        return mapping

    def construct_timestamp_text(self, node: yaml.ScalarNode) -> str:
        """A date stays text: the schema and the code that reads it validate it (2026-02-30 included)."""
        return str(self.construct_scalar(node))


_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _StrictLoader.construct_timestamp_text)


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
        elif is_secret_name(name):
            register_secret(value)
        return value

    return _ENV_REF.sub(substitute, node)


def validate(data: dict[str, Any], path: Path, schema: Mapping[str, Any]) -> None:
    """Check ``data`` against ``schema``; list every problem with its key path."""
    validator = jsonschema.Draft202012Validator(schema, format_checker=_FORMATS)
    errors = sorted(map(_deepest, validator.iter_errors(data)), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        # Messages quote values, which may hold an expanded secret.
        raise ConfigError(redact("\n".join(f"{path}: {_describe(e)}" for e in errors)))


# Formats the schema relies on: "date" (a real calendar date) and "regex" (Python compiles it).
_FORMATS = jsonschema.FormatChecker(formats=("date", "regex"))


def config_schema() -> dict[str, Any]:
    """The base JSON Schema shipped inside the package (every key but the checks' own sections)."""
    text = resources.files("pipeline.schemas").joinpath("config.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def _deepest(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """Of an anyOf/oneOf, the branch that got furthest into the value says best which key is wrong."""
    while error.context:
        deepest = max(error.context, key=lambda e: len(e.absolute_path))
        if len(deepest.absolute_path) <= len(error.absolute_path):
            break  # no branch got further: "not valid under any of the given schemas" says it best
        error = deepest
    return error


def _describe(error: jsonschema.ValidationError) -> str:
    keys = _dotted(tuple(str(p) for p in error.absolute_path))
    if error.validator == "additionalProperties" and isinstance(error.schema, dict):
        allowed = sorted(error.schema.get("properties", {}))
        instance: dict[str, Any] = error.instance if isinstance(error.instance, dict) else {}
        unknown = sorted(set(instance) - set(allowed))
        return f"{keys}: unknown key {', '.join(map(repr, unknown))} (allowed: {', '.join(allowed)})"
    if error.validator == "format":
        cause = f" ({error.cause})" if error.cause else ""
        kind = {"date": "a real date (YYYY-MM-DD)", "regex": "a valid regular expression"}.get(
            str(error.validator_value), str(error.validator_value))
        return f"{keys}: {error.instance!r} is not {kind}{cause}"
    return f"{keys}: {error.message}"


def _dotted(keys: tuple[str, ...]) -> str:
    return ".".join(keys) if keys else "(top level)"


def _text_keys(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _text_keys(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_text_keys(v) for v in node]
    return node


def _refuse_non_finite(node: Any, path: Path, keys: tuple[str, ...]) -> None:
    """.nan and .inf are numbers to YAML; no setting of the gate means either."""
    if isinstance(node, dict):
        for key, value in node.items():
            _refuse_non_finite(value, path, (*keys, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _refuse_non_finite(value, path, (*keys, str(index)))
    elif isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(f"{path}: {_dotted(keys)}: {node} is not a finite number; write a number")
