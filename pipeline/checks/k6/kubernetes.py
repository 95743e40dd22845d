"""Distributed k6 on Kubernetes through the k6-operator: the TestRun manifest, kubectl, the runners' samples.

The operator starts ``parallelism`` runner pods and gives each its execution segment itself.
Each runner writes its raw samples to a shared volume under its pod's name (Kubernetes expands
``$(POD_NAME)`` in the container's command from the env the manifest declares), which the gate
reads from ``outputs_dir`` once the TestRun's stage is ``finished``. The manifest is validated
against our schema of the CRD's fields (schemas/k6-testrun.schema.json) before anything is applied.
"""

from __future__ import annotations

import json
import shlex
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from pipeline import proc
from pipeline.checks.interface import CheckContext
from pipeline.checks.k6.distributed import Instance, script_of
from pipeline.checks.k6.settings import Distributed, K6Settings, Kubernetes
from pipeline.errors import ArtifactMissing, ToolFailed, ToolNotFound
from pipeline.model import ToolInfo

MOUNT = "/samples"
KUBECTL_HINT = ("install kubectl (https://kubernetes.io/docs/tasks/tools/) and point it at the cluster that runs "
                "the k6-operator, or set checks.k6.distributed.kubernetes.kubectl; runner local needs neither.")


def crd_schema() -> dict[str, Any]:
    """Our JSON Schema of the TestRun fields the gate writes."""
    text = resources.files("pipeline").joinpath("schemas/k6-testrun.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def manifest(settings: K6Settings, plan: Distributed, cluster: Kubernetes, load: list[str],
             base_url: str) -> dict[str, Any]:
    """The TestRun: ``instances`` runners, the script from a ConfigMap, each runner's raw samples on the volume."""
    output = f"{plan.output}={MOUNT}/$(POD_NAME).{plan.output}"
    return {
        "apiVersion": "k6.io/v1alpha1", "kind": "TestRun",
        "metadata": {"name": cluster.name, "namespace": cluster.namespace},
        "spec": {
            "parallelism": plan.instances,
            "script": {"configMap": {"name": cluster.config_map, "file": Path(settings.script).name}},
            "arguments": shlex.join(["--out", output, *load]),
            "runner": {
                "image": cluster.image,
                # Only what is not secret: an API token belongs in a Secret, never in a manifest.
                "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "BASE_URL", "value": base_url},
                        {"name": "K6_NO_USAGE_REPORT", "value": "true"}],
                "volumes": [{"name": "samples", "persistentVolumeClaim": {"claimName": cluster.claim}}],
                "volumeMounts": [{"name": "samples", "mountPath": MOUNT}],
            },
        },
    }


def config_map(settings: K6Settings, cluster: Kubernetes, script: Path) -> dict[str, Any]:
    """The ConfigMap holding the script the runners read."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": cluster.config_map, "namespace": cluster.namespace},
            "data": {Path(settings.script).name: script.read_text(encoding="utf-8")}}


def validate(document: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when the manifest breaks the TestRun schema."""
    jsonschema.Draft202012Validator(crd_schema()).validate(document)


def run_kubernetes(settings: K6Settings, plan: Distributed, ctx: CheckContext, load: list[str]) -> tuple[Instance, ...]:
    """Write and validate the manifests, apply them, wait for the TestRun, and return the runners' samples."""
    cluster = plan.kubernetes
    if cluster is None:
        raise ArtifactMissing("checks.k6.distributed.runner is kubernetes but distributed.kubernetes is not set",
                              "Set its claim (a ReadWriteMany volume) and outputs_dir (where this machine sees it).")
    script = script_of(settings, ctx)
    testrun = manifest(settings, plan, cluster, load, settings.base_url_in(ctx.env))
    validate(testrun)
    written = ctx.evidence_dir / "k6-testrun.json"
    written.write_text(json.dumps([config_map(settings, cluster, script), testrun], indent=2))
    ctx.add_evidence(written)
    if not cluster.apply:
        raise ToolFailed(f"the TestRun manifest is written to {written} but was not applied (apply: false), "
                         "so no load ran.", "Apply it yourself and ingest the samples, or set apply: true.")
    kubectl = proc.find_tool(cluster.kubectl)
    if kubectl is None:
        raise ToolNotFound(f"{cluster.kubectl} was not found, so the TestRun cannot be applied.", KUBECTL_HINT)
    outputs = Path(cluster.outputs_dir)
    for stale in outputs.glob(f"{cluster.name}-*.{plan.output}"):
        stale.unlink()  # an earlier run's samples must never be judged
    _kubectl(kubectl, cluster, ctx, "delete", "testrun", cluster.name, "--ignore-not-found")
    _kubectl(kubectl, cluster, ctx, "apply", "-f", str(written))
    _kubectl(kubectl, cluster, ctx, "wait", f"testrun/{cluster.name}", "--for=jsonpath={.status.stage}=finished",
             f"--timeout={int(ctx.deadline_s)}s")
    return collected(outputs, cluster.name, plan)


def collected(outputs: Path, name: str, plan: Distributed) -> tuple[Instance, ...]:
    """One samples file per runner, or ArtifactMissing saying how many are missing."""
    found = sorted(outputs.glob(f"{name}-*.{plan.output}"))
    if len(found) != plan.instances:
        raise ArtifactMissing(f"{len(found)} of {plan.instances} runners left raw samples in {outputs}",
                              "A runner that failed leaves its share unmeasured; read its pod's log.")
    return tuple(Instance(f"runner {path.stem}", path) for path in found)


def _kubectl(kubectl: str, cluster: Kubernetes, ctx: CheckContext, *args: str) -> None:
    argv = [kubectl, *(("--context", cluster.context) if cluster.context else ()), "-n", cluster.namespace, *args]
    ctx.tool = ToolInfo("kubectl", "", args[0], tuple(argv))
    proc.run_tool(argv, log_path=ctx.evidence_dir / f"kubectl-{args[0]}.log", timeout_s=ctx.deadline_s,
                  install_hint=KUBECTL_HINT)
