"""The k6 check's settings (``checks.k6``), their defaults, and the thresholds they amount to.

The thresholds the gate judges are a pure function of these settings (``effective_thresholds``):
``evaluate`` recomputes every one of them from the observed values; ``collect`` only hands the
same thresholds to k6 so that k6's own ``abortOnFail`` works.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from pipeline.checks.interface import CheckSettings

# Metrics an endpoint in `endpoints` gets its own copy of the thresholds for.
PER_ENDPOINT_METRICS = ("http_req_duration", "http_req_failed")

_CLOSED = ConfigDict(frozen=True, extra="forbid", strict=True)
VirtualUsers = Annotated[int, Field(ge=1)]
Duration = Annotated[str, Field(pattern=r"^[0-9]+(ms|s|m|h)$")]


class ThresholdSpec(BaseModel):
    """A threshold in k6's object form: the expression and what k6 does when it is crossed."""

    model_config = _CLOSED

    threshold: str = Field(description="the expression, e.g. p(95)<200")
    abort_on_fail: bool | SkipJsonSchema[None] = Field(
        None, alias="abortOnFail", description="k6 stops the run as soon as the threshold is crossed")
    delay_abort_eval: str | SkipJsonSchema[None] = Field(
        None, alias="delayAbortEval", description="how long k6 waits before it may abort (e.g. 10s)")

    def for_k6(self) -> dict[str, object]:
        """The object as k6 reads it from an options file (only the keys that were given)."""
        return self.model_dump(by_alias=True, exclude_none=True)


Threshold = str | ThresholdSpec
# The readiness standard's SLA: p95 under 200 ms, fewer than 0.1% failed requests.
SLA_THRESHOLDS: Mapping[str, tuple[Threshold, ...]] = {"http_req_duration": ("p(95)<200",),
                                                       "http_req_failed": ("rate<0.001",)}


class Stage(BaseModel):
    """One stage of a ramping load: reach ``target`` virtual users over ``duration``."""

    model_config = _CLOSED

    duration: str = Field(description="how long the stage lasts (e.g. 1m)")
    target: int = Field(ge=0, description="virtual users at the end of the stage")


class Kubernetes(BaseModel):
    """Where the k6-operator runs the instances, and where the gate finds their raw samples."""

    model_config = _CLOSED

    namespace: str = Field("default", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", description="the TestRun's namespace")
    name: str = Field("readiness-k6", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", description="the TestRun's name")
    config_map: str = Field("readiness-k6-script", description="the ConfigMap holding the script (created from it)")
    image: str = Field("grafana/k6:1.1.0", description="the runners' k6 image")
    claim: str = Field(description="a ReadWriteMany PersistentVolumeClaim the runners write raw samples to")
    outputs_dir: str = Field(description="that volume as this machine sees it (where the gate reads the samples)")
    kubectl: str = Field("kubectl", description="the kubectl binary")
    context: str | SkipJsonSchema[None] = Field(None, description="the kubeconfig context (default: the current)")
    apply: bool = Field(True, description="false: only write the manifest (the gate then reports an error, "
                                          "since nothing ran)")


class Distributed(BaseModel):
    """``checks.k6.distributed``: N k6 instances, each one execution segment of the same load."""

    model_config = _CLOSED

    instances: int = Field(ge=1, le=256, description="how many k6 instances share the load")
    runner: Literal["local", "kubernetes"] = Field(
        "local", description="local: processes on this machine; kubernetes: the k6-operator's TestRun")
    output: Literal["json", "csv"] = Field("json", description="k6's raw output format each instance writes")
    kubernetes: Kubernetes | SkipJsonSchema[None] = Field(None, description="for runner kubernetes")


class Capacity(BaseModel):
    """``checks.k6.capacity``: a ramping arrival rate, judged per time window against the SLA."""

    model_config = _CLOSED

    start_rate: int = Field(1, ge=0, description="iterations per second at the start")
    max_rate: int = Field(ge=1, description="iterations per second at the end of the ramp")
    duration: Duration = Field("20s", description="how long the ramp lasts")
    window: Duration = Field("2s", description="the time window each point of the curve covers")
    pre_allocated_vus: int = Field(20, ge=1, description="VUs k6 prepares for the arrivals")
    max_vus: int = Field(100, ge=1, description="the most VUs k6 may use to keep the rate")
    p95_ms: float | SkipJsonSchema[None] = Field(
        None, gt=0, description="the SLA's p95 (default: the p(95)< threshold on http_req_duration)")
    error_budget: float | SkipJsonSchema[None] = Field(
        None, ge=0, le=1, description="the highest error rate (default: the rate< threshold on http_req_failed)")
    min_rate: float | SkipJsonSchema[None] = Field(
        None, ge=0, json_schema_extra={"stricter": "higher"},
        description="fail when the knee is below this many requests per second (default: report only)")


class GeneratorLimits(BaseModel):
    """``checks.k6.generator``: when the load generator counts as starved (the run then proves nothing)."""

    model_config = _CLOSED

    max_cpu_percent: float | None = Field(
        90.0, gt=0, allow_inf_nan=False, json_schema_extra={"stricter": "lower"},
        description="a sample counts as busy when k6 (with its children) used more than this percent of one "
                    "core (null: k6's CPU is shown, not judged)")
    max_wait_ms: float | None = Field(
        5.0, gt=0, allow_inf_nan=False, json_schema_extra={"stricter": "lower"},
        description="a sample counts as busy too when k6's threads waited on average more than this many ms for a "
                    "CPU each time they became runnable (other work took the CPU; null: shown, not judged)")
    max_busy_share: float = Field(
        0.5, ge=0, le=1, allow_inf_nan=False, json_schema_extra={"stricter": "lower"},
        description="k6 was starved when more than this share of the samples were busy")
    max_dropped_iterations: int | None = Field(
        0, ge=0, json_schema_extra={"stricter": "lower"},
        description="k6 was starved when it dropped more iterations than this (null: not judged)")
    allow_warnings: bool = Field(
        False, json_schema_extra={"stricter": "false"},
        description="true: k6's warnings about the generator (Insufficient VUs, too many open files) are shown, "
                    "not judged")
    min_samples: int = Field(3, ge=1, description="fewer CPU samples (a run of a few seconds): shown, not judged")


# The name of the gate's arrival-rate scenario: k6 tags each iteration with it (`scenario`).
ARRIVAL_SCENARIO = "readiness_arrival_rate"


class ArrivalRate(BaseModel):
    """``checks.k6.arrival_rate``: an open model, k6 starts ``rate`` iterations per ``time_unit`` whatever the
    service's answers take (k6's ``constant-arrival-rate`` executor); the thresholds must hold at that rate."""

    model_config = _CLOSED

    rate: int = Field(ge=1, json_schema_extra={"stricter": "higher"},
                      description="iterations started per time_unit (one iteration = one pass of the script)")
    time_unit: Duration = Field("1s", description="the period rate counts in (1s: rate is per second)")
    duration: Duration | SkipJsonSchema[None] = Field(
        None, description="how long (default: the profile's, 30s local, 5m release)")
    pre_allocated_vus: VirtualUsers = Field(
        description="VUs made ready before the start (enough for rate x the iteration's duration)")
    max_vus: VirtualUsers | SkipJsonSchema[None] = Field(
        None, description="the most VUs k6 may add when iterations take longer (default: pre_allocated_vus)")

    @model_validator(mode="after")
    def pool_can_hold_the_preallocated(self) -> ArrivalRate:
        """max_vus below pre_allocated_vus is a contradiction k6 would only warn about."""
        if self.max_vus is not None and self.max_vus < self.pre_allocated_vus:
            raise ValueError(f"max_vus ({self.max_vus}) is below pre_allocated_vus ({self.pre_allocated_vus})")
        return self

    def for_k6(self, duration: str) -> dict[str, object]:
        """The scenario as k6 reads it from an options file."""
        return {"executor": "constant-arrival-rate", "rate": self.rate, "timeUnit": self.time_unit,
                "duration": self.duration or duration, "preAllocatedVUs": self.pre_allocated_vus,
                "maxVUs": self.max_vus or self.pre_allocated_vus}


class K6Settings(CheckSettings):
    """``checks.k6``: the script, how k6 runs, the load and the thresholds."""

    # The load when the config sets none: a short run for the local loop, the readiness
    # standard's load (100 VUs for 5 minutes) for a release.
    PROFILE_LOAD: ClassVar[Mapping[str, tuple[int, str]]] = {"local": (20, "30s"), "release": (100, "5m")}
    # Where the script finds the service when neither base_url nor READINESS_BASE_URL says.
    LOCAL_BASE_URL: ClassVar[str] = "http://127.0.0.1:8000"

    script: str = Field("configs/k6/load.js", description="the k6 script, relative to the project")
    summary: str | None = Field(None, description="ingest: a k6 summary JSON produced elsewhere (not run)")
    mode: Literal["auto", "native", "docker", "ingest"] = Field(
        "auto", description="auto: k6 on PATH or beside Python, else the image; native; docker; ingest")
    binary: str | None = Field(None, description="the k6 binary to run (default: found on PATH or beside Python)")
    image: str = Field("grafana/k6:1.1.0", description="the k6 image for mode docker (or auto without a binary)")
    base_url: str = Field("", description="given to the script as BASE_URL (default: READINESS_BASE_URL, else "
                                          "service.base_url)")
    vus: VirtualUsers | SkipJsonSchema[None] = Field(
        None, json_schema_extra={"stricter": "higher"},
        description="virtual users (default: 20 in the local profile, 100 in release)")
    duration: Duration | SkipJsonSchema[None] = Field(
        None, description="how long (default: 30s local, 5m release)")
    stages: tuple[Stage, ...] = Field((), description="a ramping load instead of vus and duration")
    thresholds: dict[str, tuple[Threshold, ...]] = Field(
        default_factory=lambda: dict(SLA_THRESHOLDS), json_schema_extra={"stricter": "more", "items": "bound"},
        description="k6 thresholds per metric, as strings or {threshold, abortOnFail, delayAbortEval} "
                    "(default, also when empty: p(95)<200 on http_req_duration, rate<0.001 on http_req_failed)")
    endpoints: tuple[str, ...] = Field(
        (), json_schema_extra={"stricter": "more"},
        description="values of the requests' name tag; each gets the overall http_req_duration and "
                        "http_req_failed thresholds")
    env: dict[str, str] = Field(default_factory=dict, description="more environment variables for the script")
    distributed: Distributed | SkipJsonSchema[None] = Field(
        None, description="run k6 as several instances (execution segments) and judge their merged raw samples")
    capacity: Capacity | SkipJsonSchema[None] = Field(
        None, description="after the SLA run, a ramping arrival rate that finds the highest rate the SLA holds at")
    arrival_rate: ArrivalRate | SkipJsonSchema[None] = Field(
        None, description="an open model instead of vus/duration/stages: {rate, time_unit, duration, "
                          "pre_allocated_vus, max_vus}; the thresholds must hold at that rate")
    generator: GeneratorLimits = Field(
        default_factory=GeneratorLimits,
        description="when k6 itself was starved (CPU, dropped iterations, its warnings): the result is then error")

    @field_validator("thresholds")
    @classmethod
    def empty_means_the_sla(cls, value: dict[str, tuple[Threshold, ...]]) -> dict[str, tuple[Threshold, ...]]:
        """An empty thresholds map means the SLA, as it always did (never: nothing to prove)."""
        return value or dict(SLA_THRESHOLDS)

    @model_validator(mode="after")
    def one_load_shape(self) -> K6Settings:
        """An arrival rate replaces vus, duration and stages: both would leave it unclear what ran."""
        if self.arrival_rate is not None and (self.stages or self.vus is not None or self.duration is not None):
            raise ValueError("arrival_rate replaces vus, duration and stages: remove those (the duration goes "
                             "into arrival_rate.duration)")
        if self.arrival_rate is not None and self.distributed is not None:
            # The instances get the load on the command line; the scenario would not reach them.
            raise ValueError("arrival_rate cannot be distributed yet: run it as one instance, or use vus/duration "
                             "with distributed")
        return self

    def load(self, profile: str) -> tuple[int, str]:
        """Virtual users and duration: the configured ones, else the profile's."""
        vus, duration = self.PROFILE_LOAD.get(profile, self.PROFILE_LOAD["local"])
        return self.vus or vus, self.duration or duration

    def base_url_in(self, env: Mapping[str, str]) -> str:
        """The service's URL for the script: base_url, else READINESS_BASE_URL, else the local default."""
        return self.base_url or env.get("READINESS_BASE_URL") or self.LOCAL_BASE_URL


def expression(item: Threshold) -> str:
    """The expression of a threshold in either of k6's forms."""
    return item.threshold if isinstance(item, ThresholdSpec) else item


def effective_thresholds(settings: K6Settings) -> dict[str, tuple[Threshold, ...]]:
    """Configured thresholds (default: the SLA), plus the same ones per listed endpoint.

    With ``arrival_rate``, also ``iterations{scenario:readiness_arrival_rate}`` ``count>0``: a
    script whose own ``options.scenarios`` replaced the gate's leaves it without a sample, so
    the run is an error instead of a pass at some other load.

    ``endpoints: [get_order]`` adds ``http_req_duration{name:get_order}`` with the
    overall duration thresholds (and likewise for ``http_req_failed``), unless that
    sub-metric has thresholds of its own in ``thresholds``.
    """
    thresholds = dict(settings.thresholds)
    for endpoint in settings.endpoints:
        for metric in PER_ENDPOINT_METRICS:
            key = f"{metric}{{name:{endpoint}}}"
            if metric in thresholds and key not in thresholds:
                thresholds[key] = thresholds[metric]
    if settings.arrival_rate is not None:
        thresholds.setdefault(f"iterations{{scenario:{ARRIVAL_SCENARIO}}}", ("count>0",))
    return thresholds


def expected_expressions(settings: K6Settings) -> list[tuple[str, str]]:
    """Every (metric, expression) the settings ask k6 to evaluate."""
    return [(metric, expression(item)) for metric, items in effective_thresholds(settings).items()
            for item in items]
