"""The offline audit: pinned dependencies matched against an OSV database loaded once."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.checks.audit import osv
from pipeline.checks.audit.reports import (
    SEVERITY_RANK,
    Dependency,
    Vulnerability,
    advisory_link,
    canonical_ids,
    normalise_label,
    severity_from_vector,
)

MAX_LINKS = 10  # an advisory's references, advisories first; the rest are on its own page


@dataclass(frozen=True)
class Matched:
    """What the database says of the pins: the vulnerabilities, and the pins it could not judge (with why)."""

    vulnerabilities: list[Vulnerability]
    undecided: dict[Dependency, str] = field(default_factory=dict)


def match_offline(dependencies: tuple[Dependency, ...], database: osv.Database) -> Matched:
    """Each pinned dependency against the database: one Vulnerability per alias group.

    A record whose range cannot be read for this version (a bound that is not a version of
    the ecosystem) leaves the dependency undecided: "not affected" would be a guess.
    """
    found, undecided = [], {}
    for dep in dependencies:
        if dep.version is None or dep.skip_reason:
            continue
        hits = []
        for record, affected in database.candidates(dep.ecosystem, dep.name):
            try:
                if osv.is_affected(affected, dep.ecosystem, dep.version):
                    hits.append((record, affected))
            except ValueError as exc:
                undecided[dep] = f"advisory {record.id} ({record.source}) cannot be applied to it: {exc}"
        by_id = {record.id: (record, affected) for record, affected in hits}
        for group in osv.merge_by_alias([record for record, _ in by_id.values()]):
            ids = canonical_ids({i for record in group for i in (record.id, *record.aliases)})
            severity, score = _group_severity(group)
            fixed = sorted({v for record in group for v in osv.fixed_versions(by_id[record.id][1])})
            links = [url for record in group for url in record.references] or [advisory_link(ids[0])]
            found.append(Vulnerability(dep.name, dep.version, ids, group[0].summary, severity, score,
                                       tuple(fixed), dep.file, dep.line, tuple(dict.fromkeys(links))[:MAX_LINKS],
                                       records=tuple(sorted(record.source for record in group))))
    return Matched(found, undecided)


def _group_severity(group: list[osv.Record]) -> tuple[str, float | None]:
    """The highest severity any record of the group gives: CVSS vector first, then labels."""
    best: tuple[str, float | None] = ("unknown", None)
    for record in group:
        for entry in record.severity:
            computed = severity_from_vector(entry["score"])
            if computed and (best[1] is None or computed[1] > best[1]):
                best = computed
    if best[1] is not None:
        return best
    labels = [normalise_label(r.database_specific["severity"]) for r in group if r.database_specific.get("severity")]
    labels = [label for label in labels if label in SEVERITY_RANK]
    return (max(labels, key=SEVERITY_RANK.__getitem__), None) if labels else best
