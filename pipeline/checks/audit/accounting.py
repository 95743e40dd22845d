"""Did the report cover every pin? Each dependency the project pins must be accounted for.

A pin is accounted for when a report audited that package at that version (compared
as versions: ``1.0`` is ``1.0.0``), or skipped it with a reason. Names are compared
as an index knows them (PEP 503 for PyPI). A report that says nothing about a pin (cut
short, made from another requirements file, or edited) proves nothing about it.
npm audit lists only the vulnerable packages and counts the rest, so a lock is
accounted for by that count. A vulnerability a report names is pointed at its pin (locate).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from pipeline.checks.audit import osv
from pipeline.checks.audit.reports import Dependency, Vulnerability


def unaccounted_pins(pins: Sequence[Dependency], reported: Sequence[Dependency] | None,
                     report_names: str) -> list[str]:
    """A sentence for each pin no report accounts for; ``reported`` None: no pip-audit report was read."""
    if reported is None:
        return [f"{_shown(pin)} ({pin.source}) is pinned, but {report_names} is not a pip-audit report, so "
                "nothing accounts for it" for pin in pins if _nameable(pin)]
    by_name: dict[str, list[Dependency]] = defaultdict(list)
    for dep in reported:
        by_name[osv.normalise(osv.PYPI, dep.name)].append(dep)
    found = []
    for pin in pins:
        if not _nameable(pin):
            continue  # the gate itself skips it with a reason
        entries = by_name.get(osv.normalise(osv.PYPI, pin.name), [])
        if not entries:
            found.append(f"{_shown(pin)} ({pin.source}) is pinned, but {report_names} does not mention it "
                         "(neither audited nor skipped with a reason)")
        elif not any(e.skip_reason or pin.version is None or _same(pin.version, e.version) for e in entries):
            audited = ", ".join(sorted({str(e.version) for e in entries}))
            found.append(f"{_shown(pin)} ({pin.source}) is pinned, but {report_names} audited {pin.name} {audited}, "
                         "another version")
    return found


def unaccounted_lock(lock: Sequence[Dependency], counted: int | None, lock_name: str, report_names: str,
                     *, npm_report: bool = True) -> list[str]:
    """One sentence when npm audit's count of audited dependencies falls short of the lock's packages."""
    wanted = [dep for dep in lock if not dep.skip_reason]
    if not wanted:
        return []
    if not npm_report:
        return [f"{lock_name} holds {len(wanted)} packages, but {report_names} is not an npm audit report, so none "
                "of them is accounted for"]
    if counted is None:
        return [f"{lock_name} holds {len(wanted)} packages, but {report_names} does not say how many dependencies "
                "it audited (no metadata.dependencies.total): none of them is accounted for"]
    if counted < len(wanted):
        return [f"{lock_name} holds {len(wanted)} packages, but {report_names} audited only {counted}: "
                f"{len(wanted) - counted} are not accounted for (npm does not say which)"]
    return []


def locate(vulnerabilities: Sequence[Vulnerability], written: Sequence[Dependency], ecosystem: str,
           report: str) -> list[Vulnerability]:
    """Each vulnerability pointed at the pin (or lock entry) of its package, else at the report that names it.

    The same name at the same version is preferred (a package may be pinned in two files).
    """
    by_name: dict[str, list[Dependency]] = defaultdict(list)
    for dep in written:
        by_name[osv.normalise(ecosystem, dep.name)].append(dep)
    found = []
    for vuln in vulnerabilities:
        candidates = by_name.get(osv.normalise(ecosystem, vuln.package), [])
        same = [d for d in candidates if d.version is not None and _same(d.version, vuln.version, ecosystem)]
        pin = next(iter(same or candidates), None)
        found.append(replace(vuln, file=pin.file, line=pin.line) if pin else replace(vuln, file=report, line=None))
    return found


def pins_the_gate_skips(pins: Sequence[Dependency]) -> list[Dependency]:
    """Pins without a usable name (editable or URL requirements): skipped here, with a reason."""
    return [pin for pin in pins if not _nameable(pin)]


def _nameable(pin: Dependency) -> bool:
    return pin.name not in ("", "?")


def _same(pinned: str, reported: str | None, ecosystem: str = osv.PYPI) -> bool:
    """Whether two versions are the same version (``1.0`` is ``1.0.0``); text that is no version compares as text."""
    if reported is None:
        return False
    try:
        return bool(osv.parse_version(ecosystem, pinned) == osv.parse_version(ecosystem, reported))
    except ValueError:
        return pinned.strip() == reported.strip()


def _shown(pin: Dependency) -> str:
    return f"{pin.name}=={pin.version}" if pin.version else pin.name
