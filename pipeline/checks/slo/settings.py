"""``checks.slo``: where the SLO is written down four times, and how their names map onto each other."""

from __future__ import annotations

from pydantic import Field

from pipeline.checks.interface import CheckSettings


class SloSettings(CheckSettings):
    """The slo check's configuration; the defaults are the shipped layout."""

    spec: str = Field("", description="the OpenAPI spec whose x-sla (p95_ms, error_rate) is the objective")
    config: str = Field("configs/readiness.yaml",
                        description="the gate config whose checks.k6 thresholds the load test enforces")
    alert_rule_files: tuple[str, ...] = Field(("configs/monitoring/alerts.yml",),
                                              json_schema_extra={"stricter": "more"},
        description="Prometheus rule files with the alerts")
    dashboard_files: tuple[str, ...] = Field(("configs/monitoring/orders-service-dashboard.json",),
                                             json_schema_extra={"stricter": "more"},
        description="Grafana dashboard JSON files with the panels")
    latency_metric: str = Field("http_request_duration_seconds_bucket",
                                description="the histogram series latency alerts and panels select")
    error_metrics: tuple[str, ...] = Field(("http_request_errors_total",),
                                           description="series an error-rate alert selects")
    route_label: str = Field("route", description="the label holding the route template in PromQL")
    k6_tags: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="operation ('GET /orders') -> the k6 name tags of its requests "
                                          "(default: its operationId)")
    routes: dict[str, str] = Field(default_factory=dict,
                                   description="operation -> its route label value (default: the spec path)")
    max_alert_for_s: float = Field(900, gt=0, allow_inf_nan=False,
                                   json_schema_extra={"stricter": "lower"},
        description="an alert's for: longer than this is too slow to page on")
