"""Read result files and hold each to the gate's rules; nothing in them is taken on trust.

A file is validated against its schema, must be named after its check, and its status
is recomputed from its own findings, measurements and waivers (``inconsistency``); a
file that breaks a rule counts as an ``error`` of its check. When one check has results
in several folders, ``gather`` keeps one by an explicit rule (``_rank``) and says which
files it dropped and why.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from pipeline.model import RESULT_SCHEMA, CheckResult, Finding, Status, now_utc

# A result that finished later than this after the verdict's own clock is "from the future".
FUTURE_TOLERANCE = dt.timedelta(minutes=5)
# Equal finishing times: the worse status wins. A fail is the firmest "no", so it ranks worst.
_SEVERITY = {Status.PASS: 0, Status.WAIVED: 1, Status.NOT_APPLICABLE: 1, Status.SKIPPED: 2, Status.ERROR: 3,
             Status.FAIL: 4}


@dataclass(frozen=True)
class Merge:
    """One check found in several result folders: which file was kept, which dropped and why."""

    check: str
    kept: str
    dropped: tuple[str, ...]
    why: tuple[str, ...] = ()


@dataclass(frozen=True)
class Loaded:
    """What the result folders hold: one result per check, the merges made, and warnings."""

    results: tuple[CheckResult, ...]
    merges: tuple[Merge, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Candidate:
    result: CheckResult
    path: str
    readable: bool  # False: the file could not be read, so when it finished is unknown


def gather(dirs: Iterable[Path], now: dt.datetime | None = None,
           known: tuple[str, ...] | None = None) -> Loaded:
    """Every ``<check>.json`` in ``dirs``, one result per check (see ``_rank`` for duplicates).

    ``now`` is the verdict's clock, against which a ``finished_at`` "from the future" is judged;
    ``known`` the checks of this gate (default: the registry's).
    """
    now = now or now_utc()
    known = known if known is not None else known_checks().names()
    found: dict[str, list[_Candidate]] = {}
    warnings: list[str] = []
    for folder in dirs:
        for path in sorted(Path(folder).glob("*.json")):
            if path.stem not in known:
                warnings.append(f"{path}: '{path.stem}' is not a check of this gate; the file was ignored.")
                continue
            found.setdefault(path.stem, []).append(_read(path, now))
    results: list[CheckResult] = []
    merges: list[Merge] = []
    for check in (name for name in known if name in found):
        ranked = sorted(found[check], key=lambda c: _rank(c, now), reverse=True)
        kept = ranked[0]
        results.append(kept.result)
        warnings += [_future_warning(c, now) for c in ranked if _from_future(c, now)]
        if len(ranked) > 1:
            merges.append(Merge(check, kept.path, tuple(c.path for c in ranked[1:]),
                                tuple(_why_dropped(c, kept, now) for c in ranked[1:])))
    return Loaded(tuple(results), tuple(merges), tuple(warnings))


def load_results(dirs: Iterable[Path], now: dt.datetime | None = None) -> tuple[list[CheckResult], list[Merge]]:
    """``gather`` without its warnings, for callers that only need the results and merges."""
    loaded = gather(dirs, now)
    return list(loaded.results), list(loaded.merges)


def _rank(candidate: _Candidate, now: dt.datetime) -> tuple[int, dt.datetime, int]:
    # An unreadable file ranks first: nobody can prove the readable one is newer, and an
    # error is the safe side. A result from the future ranks below every plausible one.
    tier = 2 if not candidate.readable else 0 if _from_future(candidate, now) else 1
    return tier, candidate.result.finished_at, _SEVERITY[candidate.result.status]


def _from_future(candidate: _Candidate, now: dt.datetime) -> bool:
    return candidate.readable and candidate.result.finished_at > now + FUTURE_TOLERANCE


def _future_warning(candidate: _Candidate, now: dt.datetime) -> str:
    ahead = (candidate.result.finished_at - now).total_seconds() / 60
    return (f"{candidate.path}: finished_at {candidate.result.finished_at.isoformat()} is {ahead:.0f} min after "
            f"this verdict's clock ({now.isoformat()}): a clock is wrong or the file was edited. It ranks below "
            "every plausible result of its check.")


def _why_dropped(dropped: _Candidate, kept: _Candidate, now: dt.datetime) -> str:
    if not kept.readable:
        return f"{dropped.path}: {kept.path} cannot be read, so nothing proves this file is newer"
    if _from_future(dropped, now) and not _from_future(kept, now):
        return f"{dropped.path}: its finished_at lies in the future; a plausible result wins"
    if dropped.result.finished_at == kept.result.finished_at:
        return (f"{dropped.path}: finished at the same moment as {kept.path}, whose status "
                f"({kept.result.status.value}) is worse")
    return (f"{dropped.path}: finished at {dropped.result.finished_at.isoformat()}, before "
            f"{kept.path} ({kept.result.finished_at.isoformat()})")


def read_result(path: Path, now: dt.datetime | None = None) -> CheckResult:
    """One result file; whatever is wrong with it makes an ``error`` result of the check it is named after."""
    return _read(path, now or now_utc()).result


def _read(path: Path, now: dt.datetime) -> _Candidate:
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_refuse_constant,
                          parse_float=_finite_float)
        if not isinstance(data, dict) or data.get("schema") != RESULT_SCHEMA:
            raise ValueError(f"it is not a {RESULT_SCHEMA} file")
        validate_result(data)
        result = CheckResult.from_dict(data)
        _check_times(result)
    except (OSError, ValueError, jsonschema.ValidationError, KeyError, TypeError, RecursionError) as exc:
        return _Candidate(_unreadable(path, _problem(exc), now), str(path), False)
    if result.check != path.stem:
        # Nothing of another check's file is shown under this check's name.
        stray = replace(_unreadable(path, (
            f"it holds a result for '{result.check}'; a result is accepted only from the file named after "
            f"its check ({result.check}.json)"), result.finished_at), started_at=result.started_at)
        return _Candidate(stray, str(path), True)
    rule = inconsistency(result)
    if rule is not None:
        return _Candidate(_broken(result, f"{path}: {rule}."), str(path), True)
    return _Candidate(result, str(path), True)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 reads as infinity
        raise ValueError(f"{text} is out of range for a number")
    return value


def _check_times(result: CheckResult) -> None:
    for name, stamp in (("started_at", result.started_at), ("finished_at", result.finished_at)):
        if stamp.tzinfo is None:
            raise ValueError(f"{name} has no time zone")
    if result.finished_at < result.started_at:
        raise ValueError("finished_at is before started_at")


def _problem(exc: Exception) -> str:
    if isinstance(exc, jsonschema.ValidationError):
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        return f"{where}: {exc.message}"
    return str(exc) or type(exc).__name__


def _unreadable(path: Path, problem: str, now: dt.datetime) -> CheckResult:
    return CheckResult(
        check=path.stem, status=Status.ERROR, summary=f"The result file {path} cannot be read.",
        reasons=(f"{path}: {problem}", "Re-run the check to write a fresh result."),
        started_at=now, finished_at=now,
    )


def _broken(result: CheckResult, rule: str) -> CheckResult:
    # The file's findings and measurements stay visible; its status and waivers are not trusted.
    return replace(result, status=Status.ERROR, waivers_applied=(),
                   findings=tuple(replace(f, waived_by=None) for f in result.findings),
                   summary="The result file breaks a rule of the gate, so its status is not trusted.",
                   reasons=(rule, "Re-run the check to write a fresh result; never edit result files."))


def inconsistency(result: CheckResult, day: dt.date | None = None) -> str | None:
    """The rule ``result``'s status breaks, recomputed from its findings, measurements and waivers.

    A waiver counts only when the result lists it as applied, it names the result's check,
    the finding's id or one of its aliases, and has not expired on ``day`` (by default the
    UTC day the result finished).
    """
    day = day or result.finished_at.astimezone(dt.UTC).date()
    failing = [f for f in result.findings if f.failing]
    uncovered = [f.id for f in failing if not _covered(f, result, day)]
    not_ok = [m.name for m in result.measurements if m.ok is False]
    if result.status is Status.PASS and uncovered:
        return f"status pass, but {len(uncovered)} failing finding(s) are not waived: {_names(uncovered)}"
    if result.status is Status.PASS and not_ok:
        return f"status pass, but measurement(s) {_names(not_ok)} say ok: false"
    if result.status is Status.WAIVED and not failing:
        return "status waived, but no finding fails, so there is nothing to waive"
    if result.status is Status.WAIVED and uncovered:
        return (f"status waived, but failing finding(s) {_names(uncovered)} are not covered by a waiver the "
                f"file lists as applied (same check, id or alias, not expired on {day})")
    if result.status is Status.NOT_APPLICABLE and result.not_applicable is None:
        return "status not_applicable, but the file holds no not_applicable record (reason, owner, review_by)"
    if result.status is Status.NOT_APPLICABLE and (result.findings or result.measurements):
        return "status not_applicable, but the check has findings or measurements: it ran"
    if result.status is Status.FAIL and not failing and not not_ok:
        return "status fail, but no finding fails and every measurement is ok"
    return None


def held_to_settings(results: Iterable[CheckResult], expected: dict[str, str] | None) -> tuple[CheckResult, ...]:
    """``results`` with each one not produced under the ``expected`` settings digest of its check an ``error``
    (``expected`` None: the verdict was given no config, so there is nothing to hold them to)."""
    if expected is None:
        return tuple(results)
    return tuple(_under(r, expected[r.check]) if r.check in expected else r for r in results)


def _under(result: CheckResult, digest: str) -> CheckResult:
    if result.settings_digest == digest or result.status is Status.ERROR:  # an error stays, with its own reason
        return result
    recorded = (f"its settings digest {result.settings_digest}" if result.settings_digest else
                "it records no settings digest (written by an older gate, or by hand)")
    return replace(_broken(result, f"The {result.check} result was produced under different settings: {recorded}, "
                                   f"the config this verdict was given has {digest}."),
                   summary="Produced under different settings: re-run the check, or run verdict with the config "
                           "it ran with.")


def _covered(finding: Finding, result: CheckResult, day: dt.date) -> bool:
    return any(w.covers_finding(result.check, finding, day) for w in result.waivers_applied)


def _names(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def validate_result(data: Any) -> None:
    """Raise jsonschema.ValidationError unless ``data`` is a valid result: exactly jsonschema's judgement.

    jsonschema-rs answers first (a 2,000-alert ZAP result: 20 ms against 2 s); only when it says
    no does jsonschema judge, and say why. So a file is refused exactly when jsonschema refuses
    it, provided jsonschema-rs never accepts what jsonschema refuses: both read the same schema,
    the formats are jsonschema's own checks, and tests/test_result_validation.py pins the rest.
    """
    with contextlib.suppress(Exception):  # only a first opinion (a string it cannot encode, say): jsonschema decides
        if _fast_validator().is_valid(data):
            return
    _validator().validate(data)


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(shipped_schema("result.schema.json"),
                                           format_checker=jsonschema.FormatChecker())


@functools.cache
def _fast_validator() -> Any:
    import jsonschema_rs

    # jsonschema's own format checks (every format it knows), so that a date it refuses is refused here too.
    checker = jsonschema.FormatChecker()
    formats: dict[str, Callable[..., bool]] = {
        name: functools.partial(checker.conforms, format=name) for name in checker.checkers}
    return jsonschema_rs.validator_for(shipped_schema("result.schema.json"), formats=formats, validate_formats=True)


def shipped_schema(name: str) -> dict[str, Any]:
    """One of the JSON Schemas shipped in the package (result, verdict)."""
    schema: dict[str, Any] = json.loads(resources.files("pipeline.schemas").joinpath(name).read_text())
    return schema


def known_checks() -> Any:
    """The registry: which checks exist, which are mandatory, which are security checks (imported late:
    results and the verdict are read from files and need the registry only for these lists)."""
    from pipeline.checks.registry import registry

    return registry()
