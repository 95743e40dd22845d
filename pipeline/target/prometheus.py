"""The Prometheus a target may start: it scrapes the service with the project's rule files.

Optional: without the ``prometheus`` binary the target still starts; the dashboards
check then says that no Prometheus could be asked, and how to get one. Its URL reaches
the checks as ``READINESS_PROMETHEUS_URL``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from pipeline.target.owned import Target, free_port, http_answer, say, wait_ready

READY_TIMEOUT_S = 30.0


def start_prometheus(target: Target, settings: Mapping[str, Any], service_port: int, project_dir: Path,
                     logs: Path, console: IO[str] | None) -> None:
    """A real Prometheus scraping the service (READINESS_PROMETHEUS_URL), or a note that there is none."""
    binary = shutil.which("prometheus")
    if binary is None:
        say(console, "target: prometheus is not installed (apt install prometheus); no live Prometheus")
        return
    config_path = target.workspace / "prometheus.yml"
    config_path.write_text(json.dumps(scrape_config(settings, service_port, project_dir)))  # JSON is YAML
    url = f"http://127.0.0.1:{free_port()}"
    log_path = logs / "prometheus.log"
    process = target.spawn("prometheus", [binary, f"--config.file={config_path}",
                                          f"--storage.tsdb.path={target.workspace / 'tsdb'}",
                                          f"--web.listen-address={url.removeprefix('http://')}"], log_path)
    wait_ready(process, lambda: http_answer(f"{url}/-/ready"), what="Prometheus", timeout_s=READY_TIMEOUT_S,
               log_path=log_path)
    target.env["READINESS_PROMETHEUS_URL"] = url


def scrape_config(settings: Mapping[str, Any], service_port: int, project_dir: Path) -> dict[str, Any]:
    """Prometheus's configuration: the service as the one scrape target, the project's rule files loaded."""
    interval = settings.get("scrape_interval", "1s")
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(project_dir / f) for f in settings.get("rule_files", [])],
        "scrape_configs": [{"job_name": settings.get("job", "service"),
                            "static_configs": [{"targets": [f"127.0.0.1:{service_port}"]}]}],
    }
