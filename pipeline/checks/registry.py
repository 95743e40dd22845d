"""The checks of this gate, found once: each package under ``pipeline/checks/`` that defines a Check.

The registry is the only list of checks. The mandatory checks and their order, the Nox
sessions, which checks need the service under test, the SARIF set, the config schema's
``checks`` section and the waiver enum are all derived from it.

A check package that cannot be imported for want of a dependency becomes a check that
records ``error`` with the reason, so the other checks and the verdict still run. A
package that is not a valid check (no class, two classes, a missing or clashing
attribute) is a RegistrationError naming the package and what is wrong.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from pipeline.checks.interface import Check, CheckContext, CheckSettings, Evaluation, FindingKind
from pipeline.errors import ToolNotFound

_KIND = re.compile(r"^[a-z][a-z0-9-]*$")
# An unloadable check's place is unknown: it comes after every check that loaded.
UNKNOWN_ORDER = 1_000_000

AnyCheck = type[Check[Any, Any, Any]]


class RegistrationError(Exception):
    """A package under pipeline/checks/ is not a valid check; the message names it and the problem."""


@dataclass(frozen=True)
class Registry:
    """Every check, in run order."""

    checks: tuple[AnyCheck, ...]

    def names(self) -> tuple[str, ...]:
        """Check names in run order (the mandatory list)."""
        return tuple(c.name for c in self.checks)

    def get(self, name: str) -> AnyCheck:
        """The check class called ``name`` (KeyError if there is none)."""
        return {c.name: c for c in self.checks}[name]

    def replacing(self, check: AnyCheck) -> Registry:
        """This registry with ``check`` in place of the one of the same name (for tests and tools)."""
        return Registry(tuple(check if c.name == check.name else c for c in self.checks))

    def security(self) -> tuple[str, ...]:
        """Checks whose findings are security findings (exported to SARIF)."""
        return tuple(c.name for c in self.checks if c.security)

    def settings(self, name: str, data: Mapping[str, Any]) -> CheckSettings:
        """The typed settings of check ``name`` from its config section (ValueError naming the key)."""
        return typed_settings(self.get(name), data)

    def describe(self) -> list[dict[str, Any]]:
        """What ``readiness checks --json`` prints: every check's declaration."""
        return [{"name": c.name, "title": c.title, "order": c.order, "needs_target": c.needs_target,
                 "may_need_target": may_need_target(c), "security": c.security, "extra": c.extra,
                 "findings": {k: {"summary": v.summary, "remediation": v.remediation} for k, v in c.findings.items()}}
                for c in self.checks]


def may_need_target(check: AnyCheck) -> bool:
    """Whether some settings make ``check`` need the service under test (``wants_target`` decides which).

    Runners that start the target before a check (the Nox sessions) must ask ``readiness target`` for
    such a check too: coverage needs it with ``database: fresh``, openapi for a served spec.
    """
    return check.needs_target or getattr(check.wants_target, "__func__", None) is not getattr(Check.wants_target,
                                                                                          "__func__", None)


# A registry that stands in for the discovered one (tests swap a check for a fake through it).
_active: Registry | None = None


def registry() -> Registry:
    """The registry of the installed gate (discovered once per process)."""
    return _active or _discovered()


@functools.cache
def _discovered() -> Registry:
    return discover(importlib.import_module("pipeline.checks"))


def discover(package: ModuleType) -> Registry:
    """Every check package under ``package``, validated; RegistrationError lists every broken one."""
    found: list[AnyCheck] = []
    problems: list[str] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.ispkg:
            continue
        where = f"{package.__name__.replace('.', '/')}/{info.name}"
        try:
            module = importlib.import_module(f"{package.__name__}.{info.name}")
        except ImportError as exc:
            found.append(unloadable(info.name, exc))
            continue
        except Exception as exc:  # a syntax error, a failing import-time statement: name the package
            problems.append(f"{where}: cannot be imported: {type(exc).__name__}: {exc}")
            continue
        check, problem = _the_check(module)
        problems += [f"{where}: {p}" for p in problem]
        if check is not None and not problem:
            found.append(check)
    problems += _clashes(found)
    if problems:
        raise RegistrationError("broken check registration:\n" + "\n".join(f"  {p}" for p in problems))
    return Registry(tuple(sorted(found, key=lambda c: (c.order, c.name))))


def typed_settings(check: AnyCheck, data: Mapping[str, Any]) -> CheckSettings:
    """``check.Settings`` built from a config section; ValueError names the key and the problem."""
    import json

    try:
        return check.Settings.model_validate_json(json.dumps(dict(data)))
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"checks.{check.name}.{key}: {first['msg']}") from None


def _the_check(module: ModuleType) -> tuple[AnyCheck | None, list[str]]:
    """The one Check subclass the package defines, and what is wrong with its declaration."""
    classes = [obj for obj in vars(module).values()
               if inspect.isclass(obj) and issubclass(obj, Check) and obj.__module__ == module.__name__]
    package = module.__name__.rsplit(".", 1)[-1]
    if len(classes) != 1:
        return None, [f"defines {len(classes)} Check subclasses ({', '.join(c.__name__ for c in classes) or 'none'});"
                      " a check package defines exactly one"]
    check = classes[0]
    return check, _declaration_problems(check, package)


def _declaration_problems(check: AnyCheck, package: str) -> list[str]:
    problems = []
    name = getattr(check, "name", None)
    if name != package:
        problems.append(f"{check.__name__}.name is {name!r}; it must be the package's name {package!r}")
    if not isinstance(getattr(check, "title", None), str) or not check.title.strip():
        problems.append(f"{check.__name__}.title is missing (what the reports call the check)")
    order = getattr(check, "order", None)
    if not isinstance(order, int) or isinstance(order, bool):
        problems.append(f"{check.__name__}.order is {order!r}; give it a whole number (its place in the run)")
    for flag in ("needs_target", "security"):
        if not isinstance(getattr(check, flag), bool):
            problems.append(f"{check.__name__}.{flag} must be True or False")
    if not (inspect.isclass(check.Settings) and issubclass(check.Settings, CheckSettings)):
        problems.append(f"{check.__name__}.Settings must subclass pipeline.checks.interface.CheckSettings")
    for kind, meaning in check.findings.items():
        if not _KIND.match(kind) or not isinstance(meaning, FindingKind):
            problems.append(f"{check.__name__}.findings[{kind!r}]: a kind is lower-case words joined by '-', "
                            "described by a FindingKind")
    if inspect.isabstract(check):
        missing = ", ".join(sorted(getattr(check, "__abstractmethods__", ())))
        problems.append(f"{check.__name__} does not implement {missing}")
    return problems


def _clashes(checks: list[AnyCheck]) -> list[str]:
    seen: dict[int, str] = {}
    problems = []
    for check in checks:
        if check.order == UNKNOWN_ORDER:
            continue
        if check.order in seen:
            problems.append(f"checks {seen[check.order]} and {check.name} both declare order {check.order}; "
                            "every check needs its own place")
        seen[check.order] = check.name
    return problems


def unloadable(name: str, error: ImportError) -> AnyCheck:
    """A stand-in for a check whose package cannot be imported here: it records ``error`` with why."""

    class Unloadable(Check[CheckSettings, None, None]):
        """A check that could not be loaded."""

        title = name
        order = UNKNOWN_ORDER

        class Settings(CheckSettings):
            """Any keys: the real check's settings are unknown."""

            model_config = CheckSettings.model_config | {"extra": "allow"}

        def collect(self, settings: CheckSettings, ctx: CheckContext) -> None:
            raise ToolNotFound(f"the {name} check cannot load in this environment: {error}", install_hint(name))

        def parse(self, raw: None) -> None:  # pragma: no cover - collect always raises
            return None

        def evaluate(self, parsed: None, settings: CheckSettings) -> Evaluation:  # pragma: no cover
            raise NotImplementedError

    Unloadable.name = name
    Unloadable.__qualname__ = Unloadable.__name__ = f"Unloadable[{name}]"
    return Unloadable


def install_hint(name: str) -> str:
    """What to install for check ``name``: its own extra when the installed gate declares one."""
    from importlib import metadata

    try:
        extras = metadata.metadata("readiness-gate").get_all("Provides-Extra") or []
    except metadata.PackageNotFoundError:
        extras = []
    if name in extras:
        return (f"Install the check's extra: pip install 'readiness-gate[{name}]' "
                "(or [checks] for every check; the Nox sessions do).")
    return "Install the gate with its dependencies: pip install 'readiness-gate[checks]' (the Nox sessions do)."
