"""``checks.zap``: every key of the zap check, with its default and meaning (defaults live here only)."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field

from pipeline.checks.interface import CheckSettings

Risk = Literal["informational", "low", "medium", "high"]
Confidence = Literal["low", "medium", "high", "confirmed"]
DEFAULT_IMAGE = "ghcr.io/zaproxy/zaproxy:stable"


class ZapSettings(CheckSettings):
    """The zap check's configuration: what to scan, how, and the policy that judges the alerts."""

    target: str = Field("", description="the URL zap-baseline scans (empty: READINESS_BASE_URL, else service.base_url)")
    rules: str | None = Field(None, description="zap-baseline's -c rules file: id<TAB>IGNORE|INFO|WARN|FAIL<TAB>name "
                                                "and id|*<TAB>OUTOFSCOPE<TAB>url-regex")
    fail_at: Risk = Field("medium", json_schema_extra={"stricter": "lower", "scale": list(get_args(Risk))},
                         description="alerts at or above this risk fail (unless the rules file decides)")
    min_confidence: Confidence = Field("low", json_schema_extra={"stricter": "lower",
                                                                     "scale": list(get_args(Confidence))},
                                       description="alerts below this confidence do not count "
                                                          "(False Positive alerts never count)")
    minutes: int = Field(1, ge=1, description="zap-baseline -m: minutes of spidering")
    ajax_spider: bool = Field(False, description="zap-baseline -j: run the AJAX spider too")
    alpha_rules: bool = Field(False, description="zap-baseline -a: include the alpha passive rules")
    extra_options: str = Field("", description="zap-baseline -z: ZAP command-line options")
    report: str | None = Field(None, description="ingest: a ZAP traditional JSON report (-J) produced elsewhere")
    xml_report: str | None = Field(None, description="ingest: a ZAP traditional XML report (-x) produced elsewhere")
    mode: Literal["auto", "docker", "local", "ingest"] = Field(
        "auto", description="auto: a local zap-baseline.py if on PATH, else Docker; ingest needs report or xml_report")
    zap_path: str | None = Field(None, description="a local zap-baseline.py (default: the one on PATH)")
    image: str = Field(DEFAULT_IMAGE, description="the ZAP image the Docker mode runs")

    def ingested(self) -> str | None:
        """The report this run reads instead of scanning (JSON first), or None when it scans."""
        return self.report or self.xml_report or None
