"""Several worker processes (orders_service.serve): /metrics counts the requests of every worker."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import JWT_SECRET

SERIES = {"method": "GET", "route": "/orders/{order_id}", "status": "200"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as answer:  # a new connection each time
        return bytes(answer.read())


def _served(families: object) -> float:
    """The request count of SERIES in parsed metric families."""
    return sum(sample.value for family in families for sample in family.samples  # type: ignore[attr-defined]
               if sample.name == "http_request_duration_seconds_count" and sample.labels == SERIES)


def _start(database_url: str, tmp_path: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    """The service with ``workers`` processes (its state folder under ``tmp_path``), once it is ready."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "JWT_SECRET": JWT_SECRET, "TMPDIR": str(tmp_path)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen([sys.executable, "-m", "orders_service.serve", "--port", str(port),
                               "--workers", str(workers)], env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            _get(f"{base}/ready")
            return server, base
        except OSError:
            time.sleep(0.2)
    os.killpg(server.pid, signal.SIGKILL)
    raise AssertionError("orders_service.serve did not become ready within 30 s")


def _stop(server: subprocess.Popen[bytes]) -> None:
    os.killpg(server.pid, signal.SIGTERM)  # what the readiness gate sends
    server.wait(timeout=30)


def test_metrics_count_the_requests_of_both_workers(database_url: str, tmp_path: Path) -> None:
    server, base = _start(database_url, tmp_path, 2)
    try:
        state = next(tmp_path.glob("orders-service-*"))  # a fresh folder for this start
        assert sorted(p.name for p in state.iterdir()) == ["metrics", "ratelimit.sqlite"]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: _get(f"{base}/orders/{1 + i % 50}"), range(200)))
        exposed = _served(text_string_to_metric_families(_get(f"{base}/metrics").decode()))
        per_worker = _per_worker(state / "metrics", tmp_path)
    finally:
        _stop(server)
    assert exposed == 200  # whichever worker answered /metrics, every worker's requests are in it
    assert len(per_worker) == 2 and all(n > 0 for n in per_worker) and sum(per_worker) == 200  # both served
    assert list(tmp_path.glob("orders-service-*")) == []  # removed at exit


def _per_worker(metrics_dir: Path, scratch: Path) -> list[float]:
    """SERIES's count in each worker's own file (prometheus_client writes one per process)."""
    counts = []
    for db_file in sorted(metrics_dir.glob("histogram_*.db")):
        alone = scratch / db_file.stem
        alone.mkdir()
        shutil.copy(db_file, alone)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(alone))  # type: ignore[no-untyped-call]
        counts.append(_served(registry.collect()))
    return counts


def test_main_hands_uvicorn_the_workers_and_cleans_up_after_it(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # In-process, for the coverage report (the real start above runs in a child process).
    import signal
    import tempfile

    import uvicorn
    from orders_service import serve

    seen: dict[str, object] = {}

    class Supervisor:  # uvicorn's Multiprocess, recording what it was given instead of starting workers
        def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
            seen.update(config=config, sockets=sockets, state=os.environ["ORDERS_STATE_DIR"],
                        metrics=os.environ["PROMETHEUS_MULTIPROC_DIR"])

        def run(self) -> None:
            for listener in seen["sockets"]:  # type: ignore[attr-defined]
                listener.close()

    def run(app: str, **options: object) -> None:
        seen.update(options, app=app)

    monkeypatch.setattr(serve, "Multiprocess", Supervisor)
    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for name in ("ORDERS_STATE_DIR", "PROMETHEUS_MULTIPROC_DIR"):
        monkeypatch.setenv(name, "")  # recorded, so that what main sets is undone after the test
    with monkeypatch.context() as patched:
        patched.setattr(signal, "signal", lambda *_: None)  # the test runner keeps its own handlers
        assert serve.main(["--port", "0", "--workers", "3"]) == 0
        config = seen["config"]
        assert isinstance(config, uvicorn.Config)
        assert (config.app, config.workers, config.factory) == ("orders_service.app:create_app", 3, True)
        assert [s.proto for s in seen["sockets"]] == [socket.IPPROTO_TCP]  # type: ignore[attr-defined]
        assert str(seen["metrics"]) == f"{seen['state']}/metrics" and str(seen["state"]).startswith(str(tmp_path))
        assert list(tmp_path.iterdir()) == []
        assert serve.main(["--port", "9999", "--workers", "1"]) == 0  # one worker: uvicorn.run itself
    assert (seen["app"], seen["port"], seen["factory"]) == ("orders_service.app:create_app", 9999, True)
    with pytest.raises(SystemExit) as stopped:
        serve._exit(15, None)
    assert stopped.value.code == 143


def test_every_connection_the_shared_listener_accepts_gets_tcp_nodelay() -> None:
    import asyncio

    import uvicorn
    from orders_service.serve import tcp_listener

    config = uvicorn.Config("orders_service.app:create_app", factory=True, host="127.0.0.1", port=0)

    async def nodelay_of_an_accepted_connection(listener: socket.socket) -> int:
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future[int] = loop.create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                accepted.set_result(transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP,
                                                                                  socket.TCP_NODELAY))
                transport.close()

        server = await loop.create_server(Probe, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        try:
            return await asyncio.wait_for(accepted, 10)
        finally:
            writer.close()
            server.close()

    assert asyncio.run(nodelay_of_an_accepted_connection(tcp_listener(config))) != 0
    # uvicorn's own socket (what uvicorn.run hands its workers) leaves Nagle on: the reason for tcp_listener.
    assert asyncio.run(nodelay_of_an_accepted_connection(config.bind_socket())) == 0
