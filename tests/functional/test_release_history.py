"""Three releases of the bundled example against a baseline: new findings, trends, an unapproved loosening.

Real parts: the explain check runs against the example's PostgreSQL (the session's
``example_target``), the audit check matches the example's pins against records of the
real PyPA advisory database, and the verdict, baseline, history and reports are the
gate's own. The other five checks are not what this test is about: their results are
written as passes (``OTHERS``), so that "ready" is reachable at all.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from pipeline._cli import main
from pipeline.gate import load_config
from pipeline.model import Status
from pipeline.runner import run_check
from tests.conftest import MANDATORY, REPO, write_results

OTHERS = {name: Status.PASS for name in MANDATORY if name not in ("explain", "audit")}
INDEX = "orders_customer_created_idx"
DOWNGRADE = ("pyjwt==2.15.1", "pyjwt==2.3.0")  # 2.3.0: PYSEC-2022-202 (fixed in 2.4.0)


def _osv_subset(shared_fixtures: Path, folder: Path, requirements: str) -> Path:
    """The advisory database's records for the example's packages (all of it would only be slower to load)."""
    database = shared_fixtures / "osv" / "pypa-advisory-database" / "vulns"
    for line in requirements.splitlines():
        name = line.split("==")[0].strip()
        if name and not name.startswith("#") and (database / name).is_dir():
            shutil.copytree(database / name, folder / name)
    return folder


def _config(tmp_path: Path, name: str, osv: Path, requirements: str, extra: dict[str, Any]) -> Path:
    config: dict[str, Any] = yaml.safe_load((REPO / "configs" / "readiness.yaml").read_text())
    del config["service"]["start"]
    pins = tmp_path / "requirements.txt"  # one path for every release: another file would be a policy change
    pins.write_text(requirements)
    config["checks"]["explain"]["defaults"]["max_seq_scan_rows"] = 1000  # the test seed: 2,000 orders
    config["checks"]["audit"].update({"requirements": [str(pins)], "osv_dir": str(osv)})
    config.update(extra)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _release(tmp_path: Path, name: str, config: Path, *args: str) -> tuple[int, dict[str, Any], Path]:
    """Run explain and audit for real, add the other results, make the verdict with the history."""
    reports = tmp_path / name
    loaded = load_config(config)
    for check in ("explain", "audit"):
        run_check(check, loaded, reports, REPO)
    write_results(reports, OTHERS)
    code = main(["verdict", "--reports-dir", str(reports), "--config", str(config),
                 "--history", str(tmp_path / "history"), *args])
    return code, json.loads((reports / "readiness.json").read_text()), reports


def _new_ids(verdict: dict[str, Any]) -> dict[str, set[str]]:
    return {d["check"]: {f["id"] for f in d["new"]} for d in verdict["comparison"]["deltas"]}


def test_three_releases_against_the_baseline(tmp_path: Path, example_target: dict[str, str],
                                             shared_fixtures: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in example_target.items():
        monkeypatch.setenv(key, value)
    clean = (REPO / "examples" / "orders-service" / "requirements.txt").read_text()
    downgraded = clean.replace(*DOWNGRADE)
    assert downgraded != clean
    osv = _osv_subset(shared_fixtures, tmp_path / "osv", clean)

    code, first, v1 = _release(tmp_path, "v1", _config(tmp_path, "v1", osv, clean, {}))
    assert code == 0, first["reasons"]

    dsn = example_target["READINESS_DATABASE_URL"]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP INDEX {INDEX}")
    try:
        code, second, v2 = _release(tmp_path, "v2", _config(tmp_path, "v2", osv, downgraded, {}), "--baseline",
                                    str(v1))
        assert code == 1
        # The third release: the same results, and the coverage minimum lowered without an approval.
        loosened = _config(tmp_path, "v3", osv, downgraded, {})
        text = loosened.read_text().replace("min_line_rate: 0.9", "min_line_rate: 0.5")
        loosened.write_text(text)
        code = main(["verdict", "--results", str(v2 / "results"), "--reports-dir", str(tmp_path / "v3"),
                     "--config", str(loosened), "--history", str(tmp_path / "history"), "--baseline", str(v1)])
        third = json.loads((tmp_path / "v3" / "readiness.json").read_text())
        assert code == 1
        new = _new_ids(third)
        assert "seq-scan:orders_by_customer[typical]:orders" in new["explain"]
        audit = next(c for c in third["checks"] if c["check"] == "audit")
        assert {f["id"] for f in audit["findings"] if "PYSEC-2022-202" in f["aliases"]} == new["audit"]
        assert any("Policy loosened without an approval: coverage.min_line_rate was loosened: 0.9 -> 0.5" in r
                   for r in third["reasons"])
        page = (tmp_path / "v3" / "readiness.html").read_text()
        assert "Trends (last 3 runs)" in page
        spark = re.search(r'aria-label="findings: explain".*?<polyline points="([^"]+)"', page, re.S)
        assert spark is not None and len(spark.group(1).split()) == 3
        assert "| explain | new finding seq\\-scan" in (tmp_path / "v3" / "readiness.md").read_text()

        # With an approval of the loosening and waivers for the two regressions, it is ready again.
        failing = [(c["check"], f["id"]) for c in second["checks"] for f in c["findings"] if f["failing"]]
        waivers = [{"check": c, "id": i, "reason": "accepted for this release", "owner": "Rita",
                    "expires": "2099-01-01"} for c, i in failing]
        approval = [{"setting": "coverage.min_line_rate", "approver": "Rita", "reason": "legacy module leaves",
                     "expires": "2099-01-01"}]
        approved = _config(tmp_path, "v3b", osv, downgraded, {"waivers": waivers, "approvals": approval})
        approved.write_text(approved.read_text().replace("min_line_rate: 0.9", "min_line_rate: 0.5"))
        code, fourth, _ = _release(tmp_path, "v3b", approved, "--baseline", str(v1))
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON orders (customer_id, created_at DESC, id DESC)")
    assert code == 0, fourth["reasons"]
    change = next(c for c in fourth["comparison"]["policy_changes"] if c["key"] == "coverage.min_line_rate")
    assert change["approved_by"]["approver"] == "Rita"
    assert {c["kind"] for c in fourth["comparison"]["policy_changes"]} >= {"loosened", "waiver added"}
