"""What the live service, Grafana and Prometheus say, with the shape of every answer checked.

An answer of another shape (an HTML page from a proxy, an error object, a list where an
object belongs) is an error naming the URL, never a KeyError and never "deployed".
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote

import psycopg
import requests

from pipeline import evidence
from pipeline.checks.dashboards.settings import GrafanaSettings, PrometheusSettings
from pipeline.errors import CheckError, ParseError
from pipeline.evidence import load_json_text
from pipeline.redact import redact, register_secret

HTTP_TIMEOUT_S = 10.0
TARGET_HEALTH = ("up", "down", "unknown")
MAX_BODY_BYTES = 20_000_000  # a /metrics body larger than this is not read whole, so it cannot be judged


@dataclass(frozen=True)
class Probe:
    """How an endpoint of the service answered."""

    url: str
    status: int | None
    elapsed_ms: float | None
    error: str | None = None
    body: str = ""
    truncated: bool = False

    @property
    def ok(self) -> bool:
        """Whether it answered 2xx."""
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class ScrapeTarget:
    """One of Prometheus's active scrape targets."""

    job: str
    url: str
    health: str  # up, down or unknown
    error: str


@dataclass(frozen=True)
class PrometheusAnswer:
    """What a live Prometheus said: the alerting rules it loaded, the service's scrape targets."""

    url: str
    job: str
    alerts: tuple[str, ...]
    targets: tuple[ScrapeTarget, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the result's details)."""
        return {**asdict(self), "alerts": list(self.alerts), "targets": [asdict(t) for t in self.targets]}


@dataclass(frozen=True)
class GrafanaAnswer:
    """What a live Grafana said: its health, and which required dashboards it has deployed."""

    url: str
    healthy: bool
    deployed: tuple[tuple[str, bool], ...]  # (uid or title, found)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the result's details)."""
        return {"url": self.url, "healthy": self.healthy, "dashboards": dict(self.deployed)}


def probe_url(url: str) -> Probe:
    """GET ``url``: status, time to the whole body, and the body (at most MAX_BODY_BYTES, then ``truncated``)."""
    started = time.perf_counter()
    try:
        with requests.get(url, timeout=HTTP_TIMEOUT_S, stream=True) as answer:
            body = bytearray()
            for chunk in answer.iter_content(1 << 16):
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    break
            text = bytes(body[:MAX_BODY_BYTES]).decode(answer.encoding or "utf-8", errors="replace")
    except (requests.RequestException, LookupError) as exc:
        return Probe(url, None, None, f"{type(exc).__name__}: {redact(str(exc))[:200]}")
    return Probe(url, answer.status_code, round((time.perf_counter() - started) * 1000, 1), None, text,
                 len(body) > MAX_BODY_BYTES)


def database_up(dsn: str | None) -> bool | None:
    """Whether the service's database answers (None: not known); lets /ready be cross-checked."""
    if not dsn:
        return None
    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
            conn.rollback()
        return True
    except psycopg.Error:
        return False


def _get(session: requests.Session, url: str, what: str, **kwargs: Any) -> requests.Response:
    try:
        return session.get(url, timeout=HTTP_TIMEOUT_S, **kwargs)
    except requests.RequestException as exc:
        raise CheckError(f"{what} at {url} cannot be asked: {type(exc).__name__}.",
                         f"Check checks.dashboards.{what.lower()}.url and that {what} runs.") from None


def _json(answer: requests.Response, url: str, what: str) -> Any:
    return load_json_text(answer.content, url, f"{what} answered HTTP {answer.status_code} with something that is "
                          "not its API's JSON; check the URL (a proxy or a login page?).")


def prometheus_targets(data: Any, url: str) -> list[ScrapeTarget]:
    """The active scrape targets of /api/v1/targets' ``data``: job, scrape URL, health, last error."""
    data = evidence.mapping(data, url, "data")
    targets = []
    for at, target in evidence.objects(data.get("activeTargets"), url, "data.activeTargets"):
        labels = evidence.mapping(target.get("labels") or {}, url, f"{at}.labels")
        health = evidence.text(target.get("health"), url, f"{at}.health")
        if health not in TARGET_HEALTH:
            raise ParseError(url, f"{at}.health", f"is {health!r}, not one of {', '.join(TARGET_HEALTH)}")
        targets.append(ScrapeTarget(evidence.optional_text(labels.get("job"), url, f"{at}.labels.job"),
                                    evidence.text(target.get("scrapeUrl"), url, f"{at}.scrapeUrl"), health,
                                    evidence.optional_text(target.get("lastError"), url, f"{at}.lastError")))
    return targets


def prometheus_alerts(data: Any, url: str) -> list[str]:
    """The names of the alerting rules of /api/v1/rules' ``data``."""
    data = evidence.mapping(data, url, "data")
    alerts = set()
    for at, group in evidence.objects(data.get("groups"), url, "data.groups"):
        for where, rule in evidence.objects(group.get("rules"), url, f"{at}.rules"):
            kind = evidence.text(rule.get("type"), url, f"{where}.type")
            name = evidence.text(rule.get("name"), url, f"{where}.name")
            if kind == "alerting":
                alerts.add(name)
    return sorted(alerts)


def _prometheus_data(session: requests.Session, url: str) -> Any:
    """The ``data`` of a Prometheus API answer, which must say ``"status": "success"``."""
    answer = _get(session, url, "Prometheus")
    document = evidence.mapping(_json(answer, url, "Prometheus"), url, "the answer")
    if answer.status_code != 200 or document.get("status") != "success":
        said = document.get("error") if isinstance(document.get("error"), str) else document.get("status")
        raise CheckError(f"Prometheus at {url} answered HTTP {answer.status_code} ({str(said)[:200]}).",
                         "Check checks.dashboards.prometheus.url (the Prometheus server, not a push gateway).")
    return document.get("data")


def ask_prometheus(prometheus: PrometheusSettings) -> PrometheusAnswer:
    """Alert rules a live Prometheus has loaded, and the health of the service's scrape targets."""
    url = (prometheus.url or "").rstrip("/")
    if not url:
        raise CheckError("no Prometheus to ask: checks.dashboards.prometheus.url is empty.",
                         "Install Prometheus (apt install prometheus): with service.start.prometheus the gate starts "
                         "one; or set READINESS_PROMETHEUS_URL to yours.")
    deadline = time.monotonic() + prometheus.wait_s
    with requests.Session() as session:
        while True:
            targets = prometheus_targets(_prometheus_data(session, f"{url}/api/v1/targets"), f"{url}/api/v1/targets")
            mine = tuple(t for t in targets if not prometheus.job or t.job == prometheus.job)
            # A target Prometheus has not scraped yet says "unknown": give it a moment.
            if (mine and all(t.health != "unknown" for t in mine)) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        alerts = prometheus_alerts(_prometheus_data(session, f"{url}/api/v1/rules"), f"{url}/api/v1/rules")
    return PrometheusAnswer(url, prometheus.job, tuple(alerts), mine)


def grafana_health(answer: Any, status: int, url: str) -> bool:
    """Whether /api/health says Grafana and its database are fine."""
    document = evidence.mapping(answer, url, "the answer")
    return status == 200 and evidence.optional_text(document.get("database"), url, "database") == "ok"


def grafana_dashboard(answer: Any, url: str, wanted: str) -> bool:
    """True when /api/dashboards/uid/<uid> answered with that very dashboard."""
    document = evidence.mapping(answer, url, "the answer")
    dashboard = evidence.mapping(document.get("dashboard"), url, "dashboard")
    evidence.text(dashboard.get("title"), url, "dashboard.title")
    uid = evidence.text(dashboard.get("uid"), url, "dashboard.uid")
    if uid != wanted:
        raise ParseError(url, "dashboard.uid", f"is {uid!r}: Grafana answered with another dashboard than {wanted!r}")
    return True


def grafana_search(answer: Any, url: str, wanted: str) -> bool:
    """True when /api/search lists a dashboard whose title (or uid) is ``wanted``."""
    found = False
    for at, hit in evidence.objects(answer, url, "the answer"):
        title = evidence.optional_text(hit.get("title"), url, f"{at}.title")
        found = found or wanted in (title, evidence.optional_text(hit.get("uid"), url, f"{at}.uid"))
    return found


def ask_grafana(grafana: GrafanaSettings, wanted: tuple[str, ...], token: str) -> GrafanaAnswer:
    """Whether a live Grafana is healthy and has deployed each ``wanted`` dashboard (uid or title)."""
    url = str(grafana.url).rstrip("/")
    headers = {"Authorization": f"Bearer {register_secret(token)}"} if token else {}
    with requests.Session() as session:
        health = _get(session, f"{url}/api/health", "Grafana")
        healthy = grafana_health(_json(health, f"{url}/api/health", "Grafana"), health.status_code,
                                 f"{url}/api/health")
        found = tuple((name, _deployed(session, url, name, headers, grafana.token_env)) for name in wanted)
    return GrafanaAnswer(url, healthy, found)


def _deployed(session: requests.Session, url: str, wanted: str, headers: dict[str, str], token_env: str) -> bool:
    where = f"{url}/api/dashboards/uid/{quote(wanted, safe='')}"
    answer = _get(session, where, "Grafana", headers=headers)
    if answer.status_code in (401, 403):
        raise CheckError(f"Grafana at {url} refused the token (HTTP {answer.status_code}).",
                         f"Set {token_env} to a token with read access to dashboards.")
    if answer.status_code == 200:
        return grafana_dashboard(_json(answer, where, "Grafana"), where, wanted)
    if answer.status_code != 404:
        raise CheckError(f"Grafana at {where} answered HTTP {answer.status_code}.",
                         "Check checks.dashboards.grafana.url and Grafana's log.")
    search = f"{url}/api/search"
    answer = _get(session, search, "Grafana", params={"query": wanted, "type": "dash-db"}, headers=headers)
    if answer.status_code != 200:
        raise CheckError(f"Grafana at {search} answered HTTP {answer.status_code} to a search for {wanted!r}.",
                         "Check the token's permissions and Grafana's log.")
    return grafana_search(_json(answer, search, "Grafana"), search, wanted)
