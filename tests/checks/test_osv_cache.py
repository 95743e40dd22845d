"""The offline OSV database's cache: used when the database is unchanged, rebuilt when it changed or is damaged."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from pipeline.checks.audit import osvcache

RECORD = """id: {id}
modified: {modified}
aliases: [CVE-2024-{n}]
summary: a synthetic advisory {n}
affected:
- package: {{ecosystem: PyPI, name: pkg{n}}}
  ranges:
  - type: ECOSYSTEM
    events:
    - introduced: "0"
    - fixed: "1.{n}"
  versions: ["0.1"]
severity:
- {{type: CVSS_V3, score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}
"""


def database(folder: Path, count: int = 3) -> Path:
    for n in range(count):
        path = folder / "vulns" / f"pkg{n}" / f"PYSEC-2024-{n}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(RECORD.format(id=f"PYSEC-2024-{n}", n=n, modified=f"2024-03-0{n + 1}T10:00:00Z"))
    return folder


def cache_file(cache: Path) -> Path:
    (found,) = cache.glob("osv-*.json")
    return found


def test_the_second_load_comes_from_the_cache_and_says_how_old_the_database_is(tmp_path: Path) -> None:
    db_dir, cache = database(tmp_path / "db"), tmp_path / "cache"
    first, how = osvcache.load(db_dir, cache)
    assert how == "read from the files (no cache yet; cached for the next run)"
    second, how = osvcache.load(db_dir, cache)
    assert how == "cache"
    assert second.index.keys() == first.index.keys() and second.all_records == first.all_records
    assert second.newest == first.newest == "2024-03-03T10:00:00Z"


def test_a_changed_database_is_read_again_never_served_stale(tmp_path: Path) -> None:
    db_dir, cache = database(tmp_path / "db"), tmp_path / "cache"
    osvcache.load(db_dir, cache)
    database(db_dir, 4)  # a new record, and the others rewritten with the same contents
    loaded, how = osvcache.load(db_dir, cache)
    assert how.startswith("read from the files (the database changed since it was cached")
    assert loaded.records == 4 and ("PyPI", "pkg3") in loaded.index
    edited = db_dir / "vulns" / "pkg0" / "PYSEC-2024-0.yaml"
    edited.write_text(edited.read_text().replace('fixed: "1.0"', 'fixed: "2.0"'))
    os.utime(edited, ns=(1, edited.stat().st_mtime_ns + 1))  # even within a coarse clock tick
    loaded, how = osvcache.load(db_dir, cache)
    assert how != "cache" and loaded.index[("PyPI", "pkg0")][0][1]["ranges"][0]["events"][1] == {"fixed": "2.0"}


def test_a_damaged_cache_file_is_rebuilt_not_trusted(tmp_path: Path) -> None:
    db_dir, cache = database(tmp_path / "db"), tmp_path / "cache"
    osvcache.load(db_dir, cache)
    path = cache_file(cache)
    path.write_bytes(path.read_bytes()[:-40])  # cut short
    loaded, how = osvcache.load(db_dir, cache)
    assert "damaged" in how and loaded.records == 3
    assert osvcache.load(db_dir, cache)[1] == "cache"  # and rewritten whole


def test_a_forged_cache_with_a_matching_checksum_is_refused_by_its_shape(tmp_path: Path) -> None:
    db_dir, cache = database(tmp_path / "db"), tmp_path / "cache"
    osvcache.load(db_dir, cache)
    path = cache_file(cache)
    header, _, body = path.read_bytes().partition(b"\n")
    payload = json.loads(body)
    payload["records"][0]["affected"][0]["ranges"][0]["events"] = [{"introduced": 0}]  # a number, not text
    forged = json.dumps(payload).encode()
    fields = json.loads(header) | {"sha256": hashlib.sha256(forged).hexdigest()}
    path.write_bytes(json.dumps(fields).encode() + b"\n" + forged)
    loaded, how = osvcache.load(db_dir, cache)
    assert "not valid" in how and loaded.index[("PyPI", "pkg0")][0][1]["ranges"][0]["events"][0] == {"introduced": "0"}


def test_the_cache_folder_comes_from_the_environment() -> None:
    assert osvcache.default_dir({"READINESS_CACHE_DIR": "/x/c"}) == Path("/x/c")
    assert osvcache.default_dir({"HOME": "/home/u"}) == Path("/home/u/.cache/readiness")
    assert osvcache.default_dir({"HOME": "/home/u", "XDG_CACHE_HOME": "/xdg"}) == Path("/xdg/readiness")
