"""``checks.dashboards``: every key of the dashboards check, with its default and meaning.

The defaults live here and nowhere else. Unset URLs and the database fall back to the
environment the target provides (``READINESS_BASE_URL``, ``READINESS_DATABASE_URL``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.checks.interface import CheckSettings

MetricType = Literal["counter", "gauge", "histogram", "summary", "info", "stateset", "unknown"]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class RequiredMetric(_Section):
    """A metric family /metrics must expose, with its type and labels when they are given."""

    name: str = Field(description="the family's name (a counter's _total suffix may be left out)")
    type: MetricType | None = Field(None, description="the type it must have")
    labels: tuple[str, ...] = Field((), description="labels its samples must carry")


class PrometheusSettings(_Section):
    """A live Prometheus to ask which alerts it loaded and whether it scrapes the service."""

    url: str | None = Field(None, description="its base URL (READINESS_PROMETHEUS_URL when the gate starts one); "
                                              "empty while the section is set: an error")
    job: str = Field("", description="the service's scrape job (empty: every target)")
    wait_s: float = Field(20.0, ge=0, allow_inf_nan=False,
                          description="how long to wait for a first scrape of the service's targets")

    def configured(self) -> bool:
        """Whether the section sets anything (``prometheus: {}`` asks no Prometheus, as before)."""
        return bool(self.model_fields_set)


class GrafanaSettings(_Section):
    """A live Grafana to ask whether the committed dashboards are deployed."""

    url: str | None = Field(None, description="its base URL (unset: Grafana is not asked)")
    token_env: str = Field("GRAFANA_TOKEN", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                           description="the environment variable holding an API token (never logged)")
    dashboards: tuple[str, ...] = Field((), description="uids or titles that must be deployed "
                                                        "(default: require_dashboards)")


class DashboardsSettings(CheckSettings):
    """The dashboards check's configuration."""

    base_url: str | None = Field(None, description="the service: /health, /ready and /metrics under it "
                                                   "(default READINESS_BASE_URL, else service.base_url)")
    health_url: str | None = Field(None, description="the health endpoint (default <base_url>/health)")
    ready_url: str | None = Field(None, description="the readiness endpoint (default <base_url>/ready)")
    metrics_url: str | None = Field(None, description="the Prometheus endpoint (default <base_url>/metrics)")
    database_url: str | None = Field(None, description="cross-check /ready against the database "
                                                       "(default READINESS_DATABASE_URL)")
    max_response_ms: float = Field(1000.0, gt=0, allow_inf_nan=False, json_schema_extra={"stricter": "lower"},
                                   description="slowest acceptable answer of /health, /ready and /metrics")
    require_metrics: tuple[str | RequiredMetric, ...] = Field(
        (), json_schema_extra={"stricter": "more"},
        description="families /metrics must expose: a name, or {name, type, labels}")
    dashboard_files: tuple[str, ...] = Field((), json_schema_extra={"stricter": "more"},
                                            description="Grafana dashboard JSON files to validate")
    require_dashboards: tuple[str, ...] = Field((), json_schema_extra={"stricter": "more"},
                                               description="uids or titles some dashboard file must have")
    panel_metrics: tuple[str, ...] = Field((), json_schema_extra={"stricter": "more"},
                                           description="series some dashboard panel must query "
                                                           "(default: the required metrics)")
    alert_rule_files: tuple[str, ...] = Field((), json_schema_extra={"stricter": "more"},
                                             description="Prometheus rule files to validate")
    require_alerts: tuple[str, ...] = Field((), json_schema_extra={"stricter": "more"},
                                           description="alert rules that must exist (and be loaded)")
    prometheus: PrometheusSettings | None = Field(None, description="a live Prometheus to ask")
    grafana: GrafanaSettings | None = Field(None, description="a live Grafana to ask")

    def required_metrics(self) -> tuple[RequiredMetric, ...]:
        """``require_metrics`` with every bare name as a RequiredMetric."""
        return tuple(m if isinstance(m, RequiredMetric) else RequiredMetric(name=m, type=None, labels=())
                     for m in self.require_metrics)
