"""The audit tools' own reports: pip-audit JSON and npm audit JSON (npm 7+ and npm 6).

Every field the check uses is checked before use: names and versions are text and the
versions parse (PEP 440 for pip-audit, semver for npm), ids and aliases are text, CVSS
scores are finite numbers in [0, 10], counts are whole numbers. A report with another
shape (a dict where a list belongs, NaN for a version) is a ParseError naming the place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import evidence
from pipeline.checks.audit import osv
from pipeline.checks.audit.osv import NPM, PYPI
from pipeline.checks.audit.reports import (
    Dependency,
    Vulnerability,
    advisory_link,
    canonical_ids,
    label_for_score,
    normalise_label,
    severity_from_vector,
)
from pipeline.errors import ParseError
from pipeline.evidence import load_json_file

NPM_SEVERITIES = ("info", "low", "moderate", "high", "critical")
NPM_KEYS = {"auditReportVersion", "advisories", "vulnerabilities", "error"}


@dataclass(frozen=True)
class ReportContents:
    """What one report says: the dependencies it covers, what it found, and (npm) how many it audited."""

    kind: str  # pip | npm
    dependencies: tuple[Dependency, ...]
    vulnerabilities: tuple[Vulnerability, ...]
    counted: int | None = None  # npm: the dependencies npm says it audited (it lists only vulnerable ones)


def read_report(path: Path, kind: str = "auto") -> ReportContents:
    """A pip-audit or npm audit report; ``auto`` tells them apart by npm's top-level keys."""
    document = load_json_file(path, "Produce it with pip-audit -f json or npm audit --json.")
    if kind == "npm" or (kind == "auto" and isinstance(document, dict) and NPM_KEYS & document.keys()):
        return npm_audit_contents(document, path)
    return pip_audit_contents(document, path)


def pip_audit_contents(document: Any, path: Path) -> ReportContents:
    """pip-audit --format json: an object with ``dependencies`` (older releases: a bare list)."""
    if isinstance(document, dict):
        entries = document.get("dependencies")
        list(evidence.objects(document.get("fixes"), path, "fixes", optional=True))  # checked, not used
    else:
        entries = document
    if not isinstance(entries, list):
        raise ParseError(path, "dependencies", "is missing: not pip-audit JSON (no 'dependencies' list)")
    dependencies, vulns = [], []
    for place, entry in evidence.objects(entries, path, "dependencies"):
        name = evidence.text(entry.get("name"), path, f"{place}.name")
        if entry.get("skip_reason") is not None:
            reason = evidence.text(entry["skip_reason"], path, f"{place}.skip_reason")
            version = evidence.optional_text(entry.get("version"), path, f"{place}.version") or None
            dependencies.append(Dependency(PYPI, name, version, str(path), skip_reason=reason))
            continue
        version = _version(PYPI, entry.get("version"), path, f"{place}.version")
        dependencies.append(Dependency(PYPI, name, version, str(path)))
        for at, vuln in evidence.objects(entry.get("vulns"), path, f"{place}.vulns", optional=True):
            own_id = evidence.text(vuln.get("id"), path, f"{at}.id")
            ids = canonical_ids({own_id, *evidence.texts(vuln.get("aliases"), path, f"{at}.aliases")})
            fixed = tuple(evidence.texts(vuln.get("fix_versions"), path, f"{at}.fix_versions"))
            summary = _first_line(evidence.optional_text(vuln.get("description"), path, f"{at}.description"))
            vulns.append(Vulnerability(name, version, ids, summary, "unknown", None, fixed,
                                       references=(advisory_link(own_id),)))
    return ReportContents("pip", tuple(dependencies), tuple(vulns))


def npm_audit_contents(document: Any, path: Path) -> ReportContents:
    """npm audit --json: report version 2 (npm 7+) or the ``advisories`` of npm 6."""
    document = evidence.mapping(document, path, "the report")
    if "error" in document:
        raise ParseError(path, "error", f"npm audit did not run: {_npm_error(document)}",
                         "The registry's audit service must answer; or use checks.audit.osv_dir.")
    if "vulnerabilities" in document:
        return _npm_v2(document, path)
    if "advisories" in document:
        return _npm_v1(document, path)
    raise ParseError(path, "", "is not npm audit JSON (no 'vulnerabilities' or 'advisories')")


def _npm_error(document: dict[str, Any]) -> str:
    """What npm said went wrong: the error's code, summary and detail, and its message."""
    error = document["error"]
    parts = [error.get(key) for key in ("code", "summary", "detail")] if isinstance(error, dict) else [error]
    parts.append(document.get("message"))
    said = " ".join(part.strip() for part in parts if isinstance(part, str) and part.strip())
    return said[:300] or "it wrote an error without a message"


def _npm_v2(document: dict[str, Any], path: Path) -> ReportContents:
    vulns, dependencies = [], []
    listed = evidence.mapping(document["vulnerabilities"], path, "vulnerabilities")
    for name, body in listed.items():
        place = f"vulnerabilities[{name!r}]"
        body = evidence.mapping(body, path, place)
        _npm_label(body.get("severity"), path, f"{place}.severity")
        fix = body.get("fixAvailable")
        fixed: tuple[str, ...] = ()
        if isinstance(fix, dict):
            fixed = (f"{evidence.text(fix.get('name'), path, f'{place}.fixAvailable.name')}@"
                     f"{evidence.text(fix.get('version'), path, f'{place}.fixAvailable.version')}",)
        elif fix is not None and not isinstance(fix, bool):
            raise ParseError(path, f"{place}.fixAvailable", f"is {fix!r}, neither a boolean nor an object")
        package_range = evidence.optional_text(body.get("range"), path, f"{place}.range") or "?"
        evidence.texts(body.get("nodes"), path, f"{place}.nodes")  # checked, not used
        evidence.texts(body.get("effects"), path, f"{place}.effects")
        for at, via in _vias(body.get("via"), path, f"{place}.via"):
            vulns.append(_npm_advisory(name, via, package_range, fixed, path, at))
        dependencies.append(Dependency(NPM, name, None, str(path)))
    return ReportContents("npm", tuple(dependencies), tuple(vulns), _npm_v2_counted(document, len(listed), path))


def _vias(value: Any, path: Path, place: str) -> list[tuple[str, dict[str, Any]]]:
    """The advisory objects of ``via``; a text names the dependency it comes through (it has its own entry)."""
    found = []
    for index, via in enumerate(evidence.sequence(value, path, place)):
        at = f"{place}[{index}]"
        if isinstance(via, str):
            evidence.text(via, path, at)
            continue
        found.append((at, evidence.mapping(via, path, at)))
    return found


def _npm_advisory(name: str, via: dict[str, Any], package_range: str, fixed: tuple[str, ...], path: Path,
                  at: str) -> Vulnerability:
    url = evidence.optional_text(via.get("url"), path, f"{at}.url")
    source = via.get("source")
    source_id = evidence.count(source, path, f"{at}.source") if not isinstance(source, str) else \
        evidence.text(source, path, f"{at}.source")
    ghsa = url.rstrip("/").rsplit("/", 1)[-1]
    severity, score = _npm_severity(via, path, at)
    return Vulnerability(name, evidence.optional_text(via.get("range"), path, f"{at}.range") or package_range,
                         (ghsa if ghsa.startswith("GHSA-") else f"npm-{source_id}",),
                         evidence.optional_text(via.get("title"), path, f"{at}.title"), severity, score, fixed,
                         references=(url,) if url else (),
                         tags=tuple(evidence.texts(via.get("cwe"), path, f"{at}.cwe")))


def _npm_severity(via: dict[str, Any], path: Path, at: str) -> tuple[str, float | None]:
    """CVSS vector first, then the CVSS score, then npm's label."""
    label = _npm_label(via.get("severity"), path, f"{at}.severity")
    cvss = evidence.mapping(via.get("cvss") or {}, path, f"{at}.cvss")
    score = None if cvss.get("score") is None else \
        evidence.number(cvss["score"], path, f"{at}.cvss.score", minimum=0, maximum=10)
    vector = evidence.optional_text(cvss.get("vectorString"), path, f"{at}.cvss.vectorString")
    computed = severity_from_vector(vector) if vector else None
    if computed:
        return computed
    if score:  # npm writes 0 when the advisory has no CVSS
        return label_for_score(score), score
    return normalise_label(label), None


def _npm_label(value: Any, path: Path, place: str) -> str:
    label = evidence.text(value, path, place).strip().lower()
    if label not in NPM_SEVERITIES:
        raise ParseError(path, place, f"is {value!r}, not one of {', '.join(NPM_SEVERITIES)}")
    return label


def _npm_v2_counted(document: dict[str, Any], listed: int, path: Path) -> int | None:
    """npm's count of audited dependencies; its count of vulnerable packages must match the list."""
    if document.get("metadata") is None:
        return None
    metadata = evidence.mapping(document["metadata"], path, "metadata")
    claimed = evidence.mapping(metadata.get("vulnerabilities") or {}, path, "metadata.vulnerabilities")
    if claimed.get("total") is not None:
        total = evidence.count(claimed["total"], path, "metadata.vulnerabilities.total")
        if total != listed:
            raise ParseError(path, "metadata.vulnerabilities.total", f"counts {total} vulnerable packages but the "
                             f"report lists {listed}: it was cut short or edited")
    counts = evidence.mapping(metadata.get("dependencies") or {}, path, "metadata.dependencies")
    if counts.get("total") is None:
        return None
    return evidence.count(counts["total"], path, "metadata.dependencies.total")


def _npm_v1(document: dict[str, Any], path: Path) -> ReportContents:
    vulns = []
    for key, advisory in evidence.mapping(document["advisories"], path, "advisories").items():
        at = f"advisories[{key!r}]"
        advisory = evidence.mapping(advisory, path, at)
        number = advisory.get("id")
        advisory_id = evidence.count(number, path, f"{at}.id") if not isinstance(number, str) else \
            evidence.text(number, path, f"{at}.id")
        module = evidence.text(advisory.get("module_name"), path, f"{at}.module_name")
        ids = canonical_ids({f"npm-{advisory_id}", *evidence.texts(advisory.get("cves"), path, f"{at}.cves")})
        versions = sorted({_version(NPM, finding.get("version"), path, f"{where}.version")
                           for where, finding in evidence.objects(advisory.get("findings"), path, f"{at}.findings")})
        patched = evidence.optional_text(advisory.get("patched_versions"), path, f"{at}.patched_versions")
        url = evidence.optional_text(advisory.get("url"), path, f"{at}.url")
        vulns.append(Vulnerability(module, ", ".join(versions) or "?", ids,
                                   evidence.optional_text(advisory.get("title"), path, f"{at}.title"),
                                   normalise_label(_npm_label(advisory.get("severity"), path, f"{at}.severity")),
                                   None, (patched,) if patched else (), references=(url,) if url else ()))
    metadata = evidence.mapping(document.get("metadata") or {}, path, "metadata")
    total = metadata.get("totalDependencies")
    counted = None if total is None else evidence.count(total, path, "metadata.totalDependencies")
    return ReportContents("npm", tuple(Dependency(NPM, v.package, v.version, str(path)) for v in vulns),
                          tuple(vulns), counted)


def _version(ecosystem: str, value: Any, path: Path, place: str) -> str:
    """A version that is text and parses (PEP 440 for PyPI, semver for npm)."""
    version = evidence.text(value, path, place)
    try:
        osv.parse_version(ecosystem, version)
    except ValueError as exc:
        raise ParseError(path, place, str(exc)) from None
    return version


def _first_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()[:300]
