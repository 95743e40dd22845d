"""Run a tool's container through the Docker SDK: host network, mounts, a timeout, always removed.

Shared by the checks that can run their tool as an image (k6, zap). The container's
log is saved as evidence; Ctrl-C is forwarded as SIGINT so the tool can still write
its report; on every way out the container is removed.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import requests

from pipeline import proc
from pipeline.errors import CheckTimeout, ToolFailed, ToolNotFound

ENGINE_HINT = ("Start a Docker engine (e.g. `dockerd --storage-driver=vfs --iptables=false --bridge=none`) "
               "and make sure this user can reach its socket.")


def run_container(image: str, command: list[str], *, log_path: Path, timeout_s: float,
                  environment: dict[str, str], mounts: dict[str, tuple[str, str]], install_hint: str,
                  user: str | None = None) -> int:
    """Run ``image`` with ``command`` to completion and return its exit code.

    ``mounts`` maps a host folder to (container path, "ro"|"rw"). Host networking, so a
    service on the host's loopback is reachable as 127.0.0.1 from inside.
    """
    import docker  # the SDK is imported only when a container is asked for

    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise ToolNotFound(f"no Docker engine answers ({_short(exc)}), so the {image} image cannot run.",
                           f"{ENGINE_HINT} Then docker pull {image} where a registry is reachable. "
                           f"Or: {install_hint}") from None
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        raise ToolNotFound(f"the image {image} is not on this Docker engine and cannot be pulled here.",
                           f"docker pull {image} where a registry is reachable (or docker load it). "
                           f"Or: {install_hint}") from None
    volumes = {host: {"bind": inside, "mode": mode} for host, (inside, mode) in mounts.items()}
    try:
        container: Any = client.containers.run(image, command, detach=True, network_mode="host", volumes=volumes,
                                               environment=environment, user=user)
    except docker.errors.APIError as exc:
        raise ToolFailed(f"the {image} container could not start: {_short(exc)}",
                         "Check the image and its entry point (docker run it by hand to see why).") from None

    def interrupt() -> None:
        container.kill(signal="SIGINT")

    def kill() -> None:
        container.remove(force=True)

    try:
        with proc.stoppable(interrupt, kill):
            try:
                outcome = container.wait(timeout=timeout_s)
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                with contextlib.suppress(docker.errors.DockerException):
                    container.kill()
                raise CheckTimeout(f"the {image} container did not finish within {timeout_s:g} s and was "
                                   "stopped.", f"Raise the timeout in the config or look at {log_path}.") from None
        return _exit_code(outcome, image, log_path)
    finally:
        with contextlib.suppress(docker.errors.DockerException):
            log_path.write_bytes(container.logs(stdout=True, stderr=True))
        with contextlib.suppress(docker.errors.DockerException):
            container.remove(force=True)


def _exit_code(outcome: Any, image: str, log_path: Path) -> int:
    """The container's exit code from the engine's answer to wait, which must hold one."""
    if isinstance(outcome, dict) and outcome.get("Error"):
        raise ToolFailed(f"the {image} container failed: {str(outcome['Error'])[:300]}", f"See {log_path}.")
    code = outcome.get("StatusCode") if isinstance(outcome, dict) else None
    if isinstance(code, bool) or not isinstance(code, int):
        raise ToolFailed(f"the Docker engine did not say how the {image} container ended ({str(outcome)[:200]}), "
                         "so its report cannot be trusted.", f"See {log_path} and the engine's log.")
    return code


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[-300:]  # the engine's own words are at the end
