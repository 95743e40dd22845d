"""What the audit check reads: pinned requirements, pip-audit JSON, npm audit JSON, and severities.

Every reader returns the same two things: the dependencies that were (or were not)
audited, and the vulnerabilities found, one per vulnerability with all its ids.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError
from pip_requirements_parser import RequirementsFile

from pipeline.errors import ParseError

SEVERITY_RANK = {"none": 0, "info": 0, "low": 1, "medium": 2, "moderate": 2, "high": 3, "critical": 4}


@dataclass(frozen=True)
class Dependency:
    ecosystem: str
    name: str
    version: str | None
    source: str  # file:line
    skip_reason: str | None = None


@dataclass(frozen=True)
class Vulnerability:
    """One vulnerability of one installed package; ``ids[0]`` is the one it is shown as."""

    package: str
    version: str
    ids: tuple[str, ...]
    summary: str
    severity: str  # critical | high | medium | low | unknown
    score: float | None
    fixed: tuple[str, ...]
    source: str
    url: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def canonical_ids(ids: set[str]) -> tuple[str, ...]:
    """CVE first (what people search for), then GHSA, then the rest; stable."""
    def rank(i: str) -> tuple[int, str]:
        return ({"CVE": 0, "GHSA": 1, "PYSEC": 2}.get(i.split("-")[0], 3), i)
    return tuple(sorted(ids, key=rank))


def label_for_score(score: float) -> str:
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    return "low" if score > 0 else "none"


def severity_from_vector(vector: str) -> tuple[str, float] | None:
    """The base score of a CVSS v2/v3/v4 vector and its label, or None if the vector is unreadable."""
    try:
        if vector.startswith("CVSS:4"):
            score = float(CVSS4(vector).base_score)
        elif vector.startswith("CVSS:3"):
            score = float(CVSS3(vector).base_score)
        else:
            score = float(CVSS2(vector).base_score)
    except (CVSSError, ValueError, KeyError):
        return None
    return label_for_score(score), score


def normalise_label(label: str) -> str:
    label = label.strip().lower()
    return {"moderate": "medium", "important": "high", "informational": "low", "info": "low"}.get(label, label)


def read_requirements(path: Path) -> list[Dependency]:
    """Pinned requirements (``name==version``), following ``-r`` includes; others are skipped with why."""
    if not path.is_file():
        raise ParseError(path, "", "does not exist")
    parsed = RequirementsFile.from_file(str(path), include_nested=True)
    if parsed.invalid_lines:
        bad = parsed.invalid_lines[0]
        raise ParseError(path, f"line {bad.requirement_line.line_number}",
                         f"is not a requirement: {bad.requirement_line.line!r}")
    found = []
    for req in parsed.requirements:
        line = req.requirement_line
        where = f"{Path(line.filename).name}:{line.line_number}" if line else str(path)
        pins = [s.version for s in req.specifier or () if s.operator in ("==", "===") and "*" not in s.version]
        if req.is_editable or not req.name:
            found.append(Dependency("PyPI", req.name or "?", None, where, "an editable or URL requirement"))
        elif len(pins) != 1:
            found.append(Dependency("PyPI", req.name, None, where,
                                    f"not pinned to one version ({req.specifier or 'no version'})"))
        else:
            found.append(Dependency("PyPI", req.name, pins[0], where))
    return found


def read_package_lock(path: Path) -> list[Dependency]:
    """Installed packages of an npm package-lock.json (lockfileVersion 2 or 3)."""
    document = _json(path)
    packages = document.get("packages")
    if not isinstance(packages, dict):
        raise ParseError(path, "packages", "is missing: lockfileVersion 2 or 3 is needed (npm 7 or later)")
    found = []
    for location, body in packages.items():
        if not location or not isinstance(body, dict) or body.get("link"):
            continue  # "" is the project itself
        name = body.get("name") or location.rsplit("node_modules/", 1)[-1]
        found.append(Dependency("npm", str(name), str(body.get("version")) if body.get("version") else None,
                                f"{path.name}:{location}", None if body.get("version") else "no version in the lock"))
    return found


def read_pip_audit(path: Path) -> tuple[list[Dependency], list[Vulnerability]]:
    """pip-audit --format json: an object with ``dependencies`` (older releases: a bare list)."""
    document = _json(path)
    entries = document.get("dependencies") if isinstance(document, dict) else document
    if not isinstance(entries, list):
        raise ParseError(path, "", "is not pip-audit JSON (no 'dependencies' list)")
    dependencies, vulns = [], []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "name" not in entry:
            raise ParseError(path, f"dependencies[{i}]", "has no 'name'")
        if entry.get("skip_reason"):
            dependencies.append(Dependency("PyPI", entry["name"], entry.get("version"), path.name,
                                           str(entry["skip_reason"])))
            continue
        dependencies.append(Dependency("PyPI", entry["name"], entry.get("version"), path.name))
        for vuln in entry.get("vulns") or ():
            ids = canonical_ids({str(vuln["id"]), *map(str, vuln.get("aliases") or ())})
            vulns.append(Vulnerability(entry["name"], str(entry.get("version")), ids,
                                       _first_line(vuln.get("description", "")), "unknown", None,
                                       tuple(map(str, vuln.get("fix_versions") or ())), path.name))
    return dependencies, vulns


def read_npm_audit(path: Path) -> tuple[list[Dependency], list[Vulnerability]]:
    """npm audit --json: report version 2 (npm 7+) or the ``advisories`` of npm 6."""
    document = _json(path)
    if isinstance(document, dict) and "error" in document:
        error = document["error"] if isinstance(document["error"], dict) else {"summary": document["error"]}
        raise ParseError(path, "error", f"npm audit did not run: {error.get('code', '')} {error.get('summary', '')}"
                         .strip(), "The registry's audit service must answer; or use checks.audit.osv_dir.")
    if isinstance(document, dict) and isinstance(document.get("vulnerabilities"), dict):
        return _npm_v2(document, path)
    if isinstance(document, dict) and isinstance(document.get("advisories"), dict):
        return _npm_v1(document, path)
    raise ParseError(path, "", "is not npm audit JSON (no 'vulnerabilities' or 'advisories')")


def _npm_v2(document: dict[str, Any], path: Path) -> tuple[list[Dependency], list[Vulnerability]]:
    vulns = []
    for name, body in document["vulnerabilities"].items():
        for via in body.get("via") or ():
            if not isinstance(via, dict):
                continue  # a string names the dependency the problem comes through; it has its own entry
            ghsa = str(via.get("url", "")).rstrip("/").rsplit("/", 1)[-1]
            ids = (ghsa if ghsa.startswith("GHSA-") else f"npm-{via.get('source')}",)
            severity, score = _npm_severity(via)
            fix = body.get("fixAvailable")
            fixed = (f"{fix['name']}@{fix['version']}",) if isinstance(fix, dict) else ()
            vulns.append(Vulnerability(name, f"{via.get('range', body.get('range', '?'))}", ids,
                                       str(via.get("title", "")), severity, score, fixed, path.name,
                                       str(via.get("url", "")), {"cwe": via.get("cwe") or []}))
    total = document.get("metadata", {}).get("dependencies", {}).get("total")
    deps = [Dependency("npm", name, None, path.name) for name in document["vulnerabilities"]]
    if isinstance(total, int) and total > len(deps):
        deps += [Dependency("npm", f"(and {total - len(deps)} more without findings)", None, path.name)]
    return deps, vulns


def _npm_v1(document: dict[str, Any], path: Path) -> tuple[list[Dependency], list[Vulnerability]]:
    vulns = []
    for advisory in document["advisories"].values():
        ids = canonical_ids({f"npm-{advisory.get('id')}", *map(str, advisory.get("cves") or ())})
        versions = sorted({str(f.get("version")) for f in advisory.get("findings") or ()})
        vulns.append(Vulnerability(str(advisory.get("module_name")), ", ".join(versions) or "?", ids,
                                   str(advisory.get("title", "")), normalise_label(str(advisory.get("severity", ""))),
                                   None, (str(advisory.get("patched_versions", "")),), path.name,
                                   str(advisory.get("url", ""))))
    return [Dependency("npm", v.package, v.version, path.name) for v in vulns], vulns


def _npm_severity(via: dict[str, Any]) -> tuple[str, float | None]:
    vector = (via.get("cvss") or {}).get("vectorString")
    if vector:
        computed = severity_from_vector(str(vector))
        if computed:
            return computed
    return normalise_label(str(via.get("severity") or "unknown")), None


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ParseError(path, "", f"cannot be read: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ParseError(path, f"line {exc.lineno} column {exc.colno}", f"is not valid JSON ({exc.msg})") from exc


def _first_line(text: str) -> str:
    text = re.sub(r"\s+", " ", str(text)).strip()
    return text[:300]
