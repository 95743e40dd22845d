"""Lock files: each format read from a real lock made here by its own tool (tests/checks/data/lockfiles).

Each tiny project locks requests 2.19.0 + idna 2.7 (Python) or lodash 4.17.15 + ms 2.0.0 (Node),
and one dev-only dependency (iniconfig 2.0.0 / left-pad 1.3.0). The OSV records here are written
for the test; the lock files are the tools' own output.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from pipeline.checks.audit import AuditSettings
from pipeline.checks.audit.lockfiles import read_lock
from pipeline.errors import ParseError
from pipeline.model import Status
from pipeline.runner import run_check
from tests.checks.test_audit import record, write_db
from tests.conftest import config_from
from tests.fuzzing import fuzz, mutated_bytes

DATA = Path(__file__).parent / "data" / "lockfiles"
PYTHON_RUNTIME = {"requests": "2.19.0", "idna": "2.7", "chardet": "3.0.4", "certifi": "2026.10.19.post1"}
NODE = {"lodash": "4.17.15", "ms": "2.0.0", "left-pad": "1.3.0"}
# folder/file -> (the dev-only package when the format records it, else None)
LOCKS = {
    "uv/uv.lock": "iniconfig", "poetry/poetry.lock": "iniconfig", "pipenv/Pipfile.lock": "iniconfig",
    "pylock/pylock.toml": None, "pip-tools/requirements.txt": None,
    "npm-v1/package-lock.json": "left-pad", "npm-v2/package-lock.json": "left-pad",
    "npm-v3/package-lock.json": "left-pad", "yarn-classic/yarn.lock": None, "yarn-berry/yarn.lock": None,
    "pnpm/pnpm-lock.yaml": "left-pad",
}
OSV = [record("PYSEC-2018-28", "requests", [{"introduced": "0"}, {"fixed": "2.20.0"}],
              aliases=["CVE-2018-18074"], database_specific={"severity": "HIGH"}),
       record("GHSA-p6mc-m468-83gw", "lodash", [{"introduced": "0"}, {"fixed": "4.17.19"}], ecosystem="npm",
              database_specific={"severity": "HIGH"}),
       record("PYSEC-2099-1", "iniconfig", [{"introduced": "0"}], database_specific={"severity": "CRITICAL"}),
       record("GHSA-2099-dev1-xxxx", "left-pad", [{"introduced": "0"}], ecosystem="npm",
              database_specific={"severity": "CRITICAL"})]


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_each_real_lock_names_every_package_at_its_line_and_what_only_development_needs(lock: str) -> None:
    path = DATA / lock
    ecosystem, found = read_lock(path)
    lines = path.read_text().splitlines()
    versions = {d.name.lower(): d.version for d in found}
    expected = NODE if ecosystem == "npm" else PYTHON_RUNTIME
    assert {k: versions.get(k) for k in expected} == expected
    assert all(d.skip_reason is None and d.line is not None and d.name in lines[d.line - 1] for d in found), found
    assert {d.name for d in found if d.dev} == ({LOCKS[lock]} if LOCKS[lock] else set())


def _project(tmp_path: Path, lock: str, **settings: Any) -> Any:
    shutil.copy(DATA / lock, tmp_path / Path(lock).name)
    write_db(tmp_path / "osv", OSV)
    body = {"version": 1, "checks": {"audit": {"lock_files": [Path(lock).name], "osv_dir": "osv", **settings}}}
    return run_check("audit", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path)


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_offline_a_vulnerable_runtime_pin_fails_at_its_lock_line_and_dev_ones_are_reported_apart(
        tmp_path: Path, lock: str) -> None:
    result = _project(tmp_path, lock)
    assert result.status is Status.FAIL, result.reasons
    # A format that does not record dev-only packages gates them like the rest (iniconfig, left-pad).
    # (The pip-tools file locks the runtime requirements only: it holds no dev package at all.)
    ungated = {"iniconfig==2.0.0"} if lock.endswith(".toml") else set() if lock.endswith(".txt") else \
        {"left-pad==1.3.0"}
    vulnerable = "lodash==4.17.15" if "-lock" in lock or "yarn" in lock else "requests==2.19.0"
    failing = [f for f in result.findings if f.failing]
    assert {f.location for f in failing} == {vulnerable} | (set() if LOCKS[lock] else ungated)
    for finding in failing:
        assert finding.file == Path(lock).name
        package = finding.location.split("==")[0]
        assert package in (tmp_path / finding.file).read_text().splitlines()[finding.line - 1]
    dev = [f for f in result.findings if "dev" in f.tags]
    assert [(f.failing, f.title.startswith("[dev] ")) for f in dev] == ([(False, True)] if LOCKS[lock] else [])


def test_dev_dependencies_gate_makes_a_dev_vulnerability_fail(tmp_path: Path) -> None:
    result = _project(tmp_path, "npm-v3/package-lock.json", dev_dependencies="gate")
    assert {f.location for f in result.findings if f.failing} == {"lodash==4.17.15", "left-pad==1.3.0"}


def test_an_unaudited_dev_package_is_a_note_when_reported_and_blocks_when_gated(tmp_path: Path) -> None:
    lock = json.loads((DATA / "npm-v3/package-lock.json").read_text())
    lock["packages"]["node_modules/left-pad"]["version"] = "git+https://example.org/left-pad.git"
    lock["packages"]["node_modules/lodash"]["version"] = "4.17.21"
    for mode, status in (("report", Status.PASS), ("gate", Status.ERROR)):
        folder = tmp_path / mode
        folder.mkdir()
        (folder / "package-lock.json").write_text(json.dumps(lock, indent=2))
        write_db(folder / "osv", OSV)
        body = {"version": 1, "checks": {"audit": {"lock_files": ["package-lock.json"], "osv_dir": "osv",
                                                   "dev_dependencies": mode}}}
        result = run_check("audit", config_from(folder, yaml.safe_dump(body)), folder / "reports", folder)
        assert result.status is status, result.reasons
        assert any("left-pad" in r and "not audited" in r for r in result.reasons)


CORRUPT = {  # lock -> (replace this, with that, the line the error must name)
    "uv/uv.lock": ('name = "idna"', 'name = = "idna"', 23),
    "poetry/poetry.lock": ('name = "idna"', 'name = "idna', 27),
    "yarn-classic/yarn.lock": ("ms@2.0.0:", "ms@2.0.0", 15),
    "pipenv/Pipfile.lock": ('"idna": {', '"idna": {,', 33),
    "pylock/pylock.toml": ('name = "idna"', 'name = "idna', 21),
    "npm-v2/package-lock.json": ('"node_modules/lodash": {', '"node_modules/lodash" {', 24),
    "yarn-berry/yarn.lock": ("  version: 4.17.15", "  version: 4.17.15: x", 16),
    "pnpm/pnpm-lock.yaml": ("  lodash@4.17.15:\n", "  lodash@4.17.15: x: y\n", 27),
}
UNKNOWN = {  # lock -> (replace this, with that, the line that declares the version)
    "uv/uv.lock": ("version = 1\n", "version = 2\n", 1),
    "poetry/poetry.lock": ('lock-version = "2.1"', 'lock-version = "3.0"', 89),
    "pipenv/Pipfile.lock": ('"pipfile-spec": 6', '"pipfile-spec": 7', 6),
    "pylock/pylock.toml": ('lock-version = "1.0"', 'lock-version = "2.0"', 3),
    "npm-v3/package-lock.json": ('"lockfileVersion": 3', '"lockfileVersion": 4', 4),
    "yarn-classic/yarn.lock": ("# yarn lockfile v1", "# yarn lockfile v2", 2),
    "yarn-berry/yarn.lock": ("  version: 10\n", "  version: 99\n", 5),
    "pnpm/pnpm-lock.yaml": ("lockfileVersion: '9.0'", "lockfileVersion: '5.4'", 1),
}


@pytest.mark.parametrize(("lock", "change"), [*((k, v) for k, v in CORRUPT.items()),
                                              *((k, v) for k, v in UNKNOWN.items())],
                         ids=[*(f"corrupt-{k}" for k in CORRUPT), *(f"version-{k}" for k in UNKNOWN)])
def test_a_corrupt_or_unknown_version_lock_is_an_error_naming_the_file_and_line(
        tmp_path: Path, lock: str, change: tuple[str, str, int]) -> None:
    old, new, line = change
    text = (DATA / lock).read_text()
    assert old in text
    name = Path(lock).name
    (tmp_path / name).write_text(text.replace(old, new, 1))
    with pytest.raises(ParseError) as caught:
        read_lock(tmp_path / name)
    assert caught.value.path.endswith(name) and caught.value.place.startswith(f"line {line}"), str(caught.value)
    write_db(tmp_path / "osv", OSV)
    body = {"version": 1, "checks": {"audit": {"lock_files": [name], "osv_dir": "osv"}}}
    result = run_check("audit", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path)
    assert result.status is Status.ERROR and f"{name}: line {line}" in " ".join(result.reasons), result.reasons


def test_a_yarn_classic_entry_the_parser_reads_loosely_is_not_audited(tmp_path: Path) -> None:
    """yarnlock takes ``version "2.0.0`` (no closing quote) as the version ``"2.0.0``: not a version, not audited."""
    text = (DATA / "yarn-classic/yarn.lock").read_text().replace('version "2.0.0"', 'version "2.0.0')
    (tmp_path / "yarn.lock").write_text(text)
    (ms,) = [d for d in read_lock(tmp_path / "yarn.lock")[1] if d.name == "ms"]
    assert ms.skip_reason and "cannot be compared" in ms.skip_reason


def test_a_yarn_classic_lock_that_makes_the_parser_panic_is_a_parse_error(tmp_path: Path) -> None:
    """yarnlock 1.2.0 (Rust) panics on a cut quote; the panic reaches Python as a BaseException."""
    (tmp_path / "yarn.lock").write_text('# yarn lockfile v1\n\na@1:\n  version "')
    with pytest.raises(ParseError, match="the parser gave up"):
        read_lock(tmp_path / "yarn.lock")


def test_a_file_that_is_not_a_yarn_lock_is_refused(tmp_path: Path) -> None:
    (tmp_path / "yarn.lock").write_text("lodash@^4:\n  version \"4.17.15\"\n")
    with pytest.raises(ParseError, match="not a yarn lock"):
        read_lock(tmp_path / "yarn.lock")


def test_a_lock_file_name_the_gate_does_not_read_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match=r"Gemfile\.lock: not a lock file the gate reads"):
        AuditSettings.model_validate({"lock_files": ("Gemfile.lock",)})
    assert AuditSettings.model_validate({"lock_files": ("sub/pylock.dev.toml", "reqs.txt")}).lock_files


def test_online_yarn_and_pnpm_locks_say_to_audit_offline(tmp_path: Path) -> None:
    shutil.copy(DATA / "pnpm/pnpm-lock.yaml", tmp_path)
    body = {"version": 1, "checks": {"audit": {"lock_files": ["pnpm-lock.yaml"]}}}
    result = run_check("audit", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path)
    assert result.status is Status.ERROR and "pnpm-lock.yaml cannot be audited online" in result.summary


def test_an_ingested_pip_audit_report_accounts_for_the_lock_pins_and_points_at_the_lock_line(tmp_path: Path) -> None:
    """A stand-in for pip-audit's online run: its JSON shape, for the pins the gate fed it."""
    shutil.copy(DATA / "uv/uv.lock", tmp_path)
    _, pins = read_lock(tmp_path / "uv.lock")
    vulns = {"requests": [{"id": "PYSEC-2018-28", "aliases": ["CVE-2018-18074"], "fix_versions": ["2.20.0"],
                           "description": "auth header leak"}]}
    report = {"dependencies": [{"name": d.name, "version": d.version, "vulns": vulns.get(d.name, [])}
                               for d in pins if d.name != "certifi"], "fixes": []}
    (tmp_path / "pip-audit.json").write_text(json.dumps(report))
    body = {"version": 1, "checks": {"audit": {"lock_files": ["uv.lock"], "report": "pip-audit.json"}}}
    result = run_check("audit", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path)
    assert result.status is Status.ERROR  # certifi is in the lock but not in the report
    assert any("certifi==2026.10.19.post1 (uv.lock:6)" in r for r in result.reasons), result.reasons
    assert [(f.id, f.file, f.line) for f in result.findings] == [("vulnerability:CVE-2018-18074", "uv.lock", 41)]


@fuzz(60)
@given(st.sampled_from(sorted(LOCKS)), st.data())
def test_a_mutated_lock_is_read_or_refused_with_a_parse_error(lock: str, data: st.DataObject) -> None:
    mutated = data.draw(mutated_bytes((DATA / lock).read_bytes()))
    with tempfile.TemporaryDirectory() as temp:
        path = Path(temp) / Path(lock).name
        path.write_bytes(mutated)
        with contextlib.suppress(ParseError):
            read_lock(path)
