"""Distributed k6 through the k6-operator: the TestRun manifest against our schema of the CRD, and kubectl.

No cluster runs here: the manifest is validated, kubectl's absence is tested for real, and the
cluster itself is a stand-in (a kubectl script, named as such) that leaves runner outputs behind.
"""

from __future__ import annotations

import copy
import json
import stat
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from pipeline.checks.k6.kubernetes import crd_schema, manifest, validate
from pipeline.checks.k6.samples import Sample, dumps_sample
from pipeline.checks.k6.settings import K6Settings
from pipeline.model import CheckResult, Status
from pipeline.runner import run_check
from tests.conftest import config_from

CLUSTER = {"claim": "k6-samples", "outputs_dir": "OUT", "namespace": "load", "name": "orders-k6"}


def _settings(**cluster: Any) -> K6Settings:
    return K6Settings.model_validate({"distributed": {"instances": 3, "runner": "kubernetes",
                                                      "kubernetes": {**CLUSTER, **cluster}}})


def _manifest() -> dict[str, Any]:
    settings = _settings()
    assert settings.distributed is not None and settings.distributed.kubernetes is not None
    return manifest(settings, settings.distributed, settings.distributed.kubernetes, ["--vus", "30"],
                    "http://orders.load.svc:8000")


def test_the_manifest_is_a_testrun_that_validates_against_the_crd_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(crd_schema())
    document = _manifest()
    validate(document)
    assert (document["apiVersion"], document["kind"]) == ("k6.io/v1alpha1", "TestRun")
    spec = document["spec"]
    assert spec["parallelism"] == 3
    assert spec["script"] == {"configMap": {"name": "readiness-k6-script", "file": "load.js"}}
    assert spec["arguments"] == "--out 'json=/samples/$(POD_NAME).json' --vus 30"
    runner = spec["runner"]
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in runner["env"]
    assert runner["volumes"][0]["persistentVolumeClaim"]["claimName"] == "k6-samples"
    assert "TOKEN" not in json.dumps(document)  # a secret never goes into a manifest


def _broken(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    document = copy.deepcopy(_manifest())
    target = document
    for key in path[:-1]:
        target = target[key]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


@pytest.mark.parametrize(("path", "value"), [
    (("apiVersion",), "k6.io/v1"),
    (("kind",), "K6"),
    (("spec", "parallelism"), 0),
    (("spec", "parallelism"), "3"),
    (("spec", "script"), None),
    (("spec", "script"), {"configMap": {"file": "load.js"}}),
    (("spec", "arguments"), ["--vus", "3"]),
    (("metadata", "name"), "Orders_K6"),
    (("spec", "runner", "volumeMounts"), [{"name": "samples"}]),
])
def test_a_broken_manifest_does_not_validate(path: tuple[str, ...], value: Any) -> None:
    with pytest.raises(jsonschema.ValidationError):
        validate(_broken(path, value))


def _run(tmp_path: Path, **cluster: Any) -> CheckResult:
    (tmp_path / "load.js").write_text("export default function () {}\n")
    (tmp_path / "out").mkdir(exist_ok=True)
    k6 = {"script": "load.js", "vus": 4, "duration": "2s",
          "distributed": {"instances": 2, "runner": "kubernetes",
                          "kubernetes": {**CLUSTER, "outputs_dir": str(tmp_path / "out"), **cluster}}}
    config = config_from(tmp_path, yaml.safe_dump({"version": 1, "checks": {"k6": k6}}),
                         READINESS_API_TOKEN="Kx9-runner-token-7731")
    return run_check("k6", config, tmp_path / "reports", tmp_path)


def test_kubectl_absent_is_an_error_with_an_install_hint(tmp_path: Path) -> None:
    result = _run(tmp_path, kubectl=str(tmp_path / "no-kubectl"))
    assert result.status is Status.ERROR
    assert "was not found" in result.reasons[0] and "install kubectl" in " ".join(result.reasons)
    written = json.loads((tmp_path / "reports" / "evidence" / "k6-testrun.json").read_text())
    assert [d["kind"] for d in written] == ["ConfigMap", "TestRun"]
    validate(written[1])
    assert "Kx9-runner-token-7731" not in (tmp_path / "reports" / "evidence" / "k6-testrun.json").read_text()


def test_a_manifest_not_applied_is_an_error_not_a_pass(tmp_path: Path) -> None:
    result = _run(tmp_path, apply=False)
    assert result.status is Status.ERROR and "was not applied" in result.reasons[0]


DECLARE = ('{"type":"Metric","data":{"name":"http_req_duration","type":"trend","contains":"time"},'
           '"metric":"http_req_duration"}\n{"type":"Metric","data":{"name":"http_req_failed","type":"rate",'
           '"contains":"default"},"metric":"http_req_failed"}\n')


def _stand_in_cluster(tmp_path: Path, runners: int) -> str:
    """A stand-in for kubectl and a cluster (none can run here): on ``wait`` it leaves ``runners`` outputs."""
    for index in range(runners):
        lines = [dumps_sample(metric, Sample(float(i), value, (("name", "a"),)))
                 for i in range(50) for metric, value in (("http_req_duration", 10.0 * (index + 1)),
                                                          ("http_req_failed", 0.0))]
        (tmp_path / f"runner-{index}.json").write_text(DECLARE + "\n".join(lines) + "\n")
    script = tmp_path / "kubectl"
    script.write_text(f"""#!/bin/sh
printf '%s\n' "$*" >> "{tmp_path}/kubectl-calls"
case "$*" in *" wait "*) for f in "{tmp_path}"/runner-*.json; do
  cp "$f" "{tmp_path}/out/orders-k6-$(basename "$f")"; done;; esac
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


@pytest.mark.parametrize("runners", [2, 1])
def test_runner_outputs_are_collected_and_merged_or_their_absence_is_an_error(tmp_path: Path, runners: int) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "orders-k6-stale.json").write_text("from an earlier run\n")
    result = _run(tmp_path, kubectl=_stand_in_cluster(tmp_path, runners))
    calls = (tmp_path / "kubectl-calls").read_text().splitlines()
    assert [c.split()[2] for c in calls] == ["delete", "apply", "wait"]
    assert "--for=jsonpath={.status.stage}=finished" in calls[2]
    if runners == 2:
        assert result.status is Status.PASS, result.reasons
        p95 = next(m.value for m in result.measurements if m.name == "latency p95")
        assert p95 == 20.0  # half the union waited 20 ms: the merged p95, not the mean of 10 and 20
    else:
        assert result.status is Status.ERROR and "1 of 2 runners left raw samples" in result.reasons[0]
