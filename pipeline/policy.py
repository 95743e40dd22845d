"""The effective policy: every rule of every check after the profile merge, with the file and key that set it.

A rule is a setting whose field declares which way is stricter
(``Field(json_schema_extra={"stricter": ...})`` in the check's ``settings.py``), so the
direction lives beside the setting's default and meaning:

- ``higher`` / ``lower``: a number (or a place on ``scale``, for a named level such as a
  severity); unset (null) means the rule is off, the loosest value;
- ``true`` / ``false``: the boolean value that is stricter;
- ``more``: a list of required things; each one removed is a loosening (``items: bound``:
  k6-style bounds such as ``p(95)<200`` are compared by their number; ``key: name``: a
  list of named sections, each recorded with its own rules);
- ``fewer``: a list of exemptions; each one added is a loosening;
- ``unset: defaults``: a rule left unset takes the value of the same rule in ``defaults``.

Besides the checks' settings the policy holds whether each check is enabled, the
``deltas`` rules, the waivers and the approvals. ``readiness.json`` records it; a later
run compares its own with the baseline's (``pipeline.policy_diff``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from pipeline.config import Config, ConfigError, read_yaml

POLICY_SCHEMA = "readiness.policy/1"
# The deltas rules (config key ``deltas``) and which way each is stricter.
DELTA_RULES: dict[str, str] = {"no_new_high": "true", "max_p95_growth": "lower", "max_coverage_drop": "lower",
                               "max_query_time_growth": "lower", "max_plan_cost_growth": "lower"}


def effective_policy(config: Config) -> dict[str, Any]:
    """The policy ``config`` amounts to, as recorded in ``readiness.json`` (JSON-ready)."""
    from pipeline.checks.registry import registry  # the registry imports the checks, which import config
    from pipeline.gate import check_settings

    raw = _raw(config)
    rules: dict[str, dict[str, Any]] = {}
    for name in registry().names():
        rules[f"{name}.enabled"] = {"value": config.enabled(name), "stricter": "true"}
        settings = check_settings(config, name)
        for key, value, extra in _leaves(settings, settings, name):
            rules[key] = {"value": value, **{k: extra[k] for k in ("stricter", "scale", "items", "inherits")
                                             if k in extra}}
    deltas = config.deltas
    for key, direction in DELTA_RULES.items():
        rules[f"deltas.{key}"] = {"value": deltas.get(key), "stricter": direction}
    for key, rule in rules.items():
        rule["source"] = source(raw, config, rule.get("inherits", key))
    return {
        "schema": POLICY_SCHEMA,
        "config": str(config.path),
        "profile": config.profile,
        "rules": rules,
        "waivers": [w.to_dict() for w in config.waivers],
        "approvals": [dict(a) for a in config.approvals],
    }


def _leaves(model: BaseModel, root: BaseModel, prefix: str) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(key, JSON value, direction) of every rule in ``model`` and the sections below it."""
    for field, info in type(model).model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        value = getattr(model, field)
        key = f"{prefix}.{field}"
        if isinstance(value, BaseModel):
            yield from _leaves(value, root, key)
        elif "stricter" not in extra:
            continue
        elif extra.get("unset") == "defaults" and field not in model.model_fields_set:
            inherited = f"{prefix.split('.')[0]}.defaults.{field}"
            yield key, _json(getattr(getattr(root, "defaults", None), field)), {**extra, "inherits": inherited}
        elif isinstance(value, dict):
            yield key, sorted(value), {"stricter": extra["stricter"]}
            for sub, items in value.items():
                yield f"{key}.{sub}", _items(items, extra), extra
        elif isinstance(value, tuple) and "key" in extra:
            yield key, sorted(str(getattr(item, str(extra["key"]))) for item in value), {"stricter": extra["stricter"]}
            for item in value:
                yield from _leaves(item, root, f"{key}[{getattr(item, str(extra['key']))}]")
        elif isinstance(value, tuple):
            yield key, _items(value, extra), extra
        else:
            yield key, _json(value), extra


def _items(items: Any, extra: dict[str, Any]) -> list[str]:
    """A list setting as sorted text: bounds by their expression, sections as canonical JSON."""
    shown = []
    for item in items:
        if extra.get("items") == "bound" and hasattr(item, "threshold"):
            shown.append(str(item.threshold))
        elif isinstance(item, BaseModel):
            shown.append(json.dumps(item.model_dump(mode="json", by_alias=True), sort_keys=True))
        else:
            shown.append(str(item))
    return sorted(shown)


def _json(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def _raw(config: Config) -> dict[str, Any]:
    """The config file as written (before the profile merge), to tell where each rule was set."""
    try:
        return read_yaml(config.path)
    except ConfigError:  # a config object not read from a file (tests): every rule is "as loaded"
        return {}


def source(raw: dict[str, Any], config: Config, key: str) -> str:
    """Where rule ``key`` was set: ``FILE: profiles.P.checks.x.y``, ``FILE: checks.x.y`` or ``default``."""
    parts = key.replace("[", ".").replace("]", "").split(".")
    path = parts if parts[0] == "deltas" else ["checks", *parts]
    profile = ((raw.get("profiles") or {}).get(config.profile) or {})
    for where, tree in ((f"profiles.{config.profile}.", profile), ("", raw)):
        found = _set_in(tree, path)
        if found:
            return f"{config.path}: {where}{'.'.join(found)}"
    return "default"


def _set_in(tree: Any, path: list[str]) -> list[str]:
    """``path`` if ``tree`` sets it (a named list item matches by its name), else nothing."""
    node = tree
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list):
            node = next((i for i in node if isinstance(i, dict) and i.get("name") == part), None)
            if node is None:
                return []
        else:
            return []
    return path
