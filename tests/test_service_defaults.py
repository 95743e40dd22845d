"""``service.base_url`` names the service once: every check that talks to it goes there by default."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline import gate
from pipeline.checks.k6 import K6Settings
from pipeline.checks.k6 import _k6_env as k6_env
from pipeline.model import Status
from pipeline.runner import run_check, service_env
from tests.conftest import REPO, config_from


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server on a free loopback port serving the example's spec as /openapi.json."""
    folder = tmp_path / "www"
    folder.mkdir()
    spec = json.loads((REPO / "examples" / "orders-service" / "openapi.json").read_text())
    spec["info"]["title"] = "served by the stand-in at service.base_url"
    (folder / "openapi.json").write_text(json.dumps(spec))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_service_base_url_fills_in_only_when_the_environment_says_nothing(tmp_path: Path) -> None:
    config = config_from(tmp_path, "version: 1\nchecks: {}\nservice: {base_url: 'http://127.0.0.1:8123'}\n")
    assert service_env(config, {})["READINESS_BASE_URL"] == "http://127.0.0.1:8123"
    # A target the gate started says where the service really listens.
    assert service_env(config, {"READINESS_BASE_URL": "http://127.0.0.1:9"})["READINESS_BASE_URL"] == \
        "http://127.0.0.1:9"
    assert "READINESS_BASE_URL" not in service_env(config_from(tmp_path, "version: 1\nchecks: {}\n"), {})


def test_k6_sends_its_load_to_service_base_url_unless_it_names_its_own(tmp_path: Path) -> None:
    config = config_from(tmp_path, "version: 1\nchecks: {}\nservice: {base_url: 'http://127.0.0.1:8123'}\n")
    env = service_env(config, {})
    settings = gate.check_settings(config, "k6")
    assert isinstance(settings, K6Settings)
    assert k6_env(settings, env)["BASE_URL"] == "http://127.0.0.1:8123"
    own = K6Settings.model_validate({"base_url": "http://127.0.0.1:7000"})
    assert k6_env(own, env)["BASE_URL"] == "http://127.0.0.1:7000"


def test_a_served_openapi_spec_is_fetched_from_service_base_url(tmp_path: Path, served: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("READINESS_BASE_URL", raising=False)
    shutil.copy(REPO / "examples" / "orders-service" / "openapi.json", tmp_path / "openapi.json")
    config = config_from(tmp_path, f"version: 1\nservice: {{base_url: '{served}'}}\n"
                                   "checks:\n  openapi: {spec: openapi.json, served_spec: /openapi.json}\n")
    done = run_check("openapi", config, tmp_path / "reports", tmp_path)
    assert done.status is Status.PASS, done.reasons
    kept = (tmp_path / "reports" / "evidence" / "openapi-served-spec.json").read_text()
    assert "served by the stand-in at service.base_url" in kept  # not whatever listens on the 8000 fallback


def test_checking_a_served_spec_alone_starts_the_service_the_gate_owns(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline._cli import main

    www = tmp_path / "www"
    www.mkdir()
    shutil.copy(REPO / "examples" / "orders-service" / "openapi.json", www / "openapi.json")
    for name in ("READINESS_BASE_URL", "READINESS_TARGET_ERROR", "READINESS_DATABASE_URL"):
        monkeypatch.setenv(name, "restored after the test")  # main() exports the target's variables
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gate.yaml").write_text(
        "version: 1\nservice:\n  base_url: http://127.0.0.1:9\n  start:\n    database: none\n    workdir: www\n"
        "    command: ['{python}', '-m', 'http.server', '{port}', '--bind', '127.0.0.1']\n"
        "    ready_path: /openapi.json\nchecks:\n  openapi: {spec: '${READINESS_BASE_URL:-http://127.0.0.1:9}"
        "/openapi.json'}\n")
    main(["check", "openapi", "--config", "gate.yaml", "--reports-dir", "reports"])
    result = json.loads((tmp_path / "reports" / "results" / "openapi.json").read_text())
    assert result["status"] != "error", result["reasons"]
    assert (tmp_path / "reports" / "evidence" / "openapi-served.json").is_file()
    assert (tmp_path / "reports" / "evidence" / "target" / "service.log").is_file()  # the gate started it


def test_checking_alone_with_a_base_url_uses_that_service_and_starts_none(
        tmp_path: Path, served: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline._cli import main

    monkeypatch.setenv("READINESS_BASE_URL", served)  # the service already runs there
    monkeypatch.delenv("READINESS_TARGET_ERROR", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gate.yaml").write_text(
        "version: 1\nservice:\n  start:\n    database: none\n    command: ['false']\n"
        "checks:\n  openapi: {spec: '${READINESS_BASE_URL}/openapi.json'}\n")
    main(["check", "openapi", "--config", "gate.yaml", "--reports-dir", "reports"])
    result = json.loads((tmp_path / "reports" / "results" / "openapi.json").read_text())
    assert result["status"] != "error", result["reasons"]  # the command `false` never ran
    assert not (tmp_path / "reports" / "evidence" / "target").exists()
