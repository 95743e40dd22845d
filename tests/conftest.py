"""Shared helpers: small projects written on the fly, configs, result files, the real fixtures."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from pipeline.checks.coverage.reports import CaseOutcome, JUnitFile
from pipeline.checks.registry import registry
from pipeline.config import Config
from pipeline.gate import load_config
from pipeline.model import CheckResult, Measurement, Status, ToolInfo
from pipeline.runner import write_result

if TYPE_CHECKING:  # playwright is imported only by the fixture that starts Chromium
    from playwright.sync_api import Browser

REPO = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures" / "real"


# Every check of the gate, in run order: the registry is the only list.
MANDATORY = registry().names()


def others_off(*keep: str) -> str:
    """Config lines (under ``checks:``) that disable every check but ``keep``."""
    return "".join(f"  {name}: {{enabled: false}}\n" for name in MANDATORY if name not in keep)


def write_config(folder: Path, body: str, name: str = "readiness.yaml") -> Path:
    """A config file in ``folder`` from a YAML snippet."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def config_from(folder: Path, body: str, **env: str) -> Config:
    """A loaded config from a YAML snippet."""
    return load_config(write_config(folder, body), env={**os.environ, **env})


def cobertura_xml(covered: int, valid: int, filename: str = "pkg/mod.py",
                  package: str = "pkg") -> str:
    """A Cobertura report with exactly ``covered`` of ``valid`` lines hit."""
    lines = "".join(
        f'<line number="{n}" hits="{1 if n <= covered else 0}"/>' for n in range(1, valid + 1)
    )
    rate = covered / valid if valid else 0
    return (
        f'<?xml version="1.0" ?><coverage version="7.4" line-rate="{rate:.4f}" '
        f'branch-rate="0" lines-valid="{valid}" lines-covered="{covered}">'
        f'<packages><package name="{package}"><classes>'
        f'<class name="{filename}" filename="{filename}"><lines>{lines}</lines></class>'
        f"</classes></package></packages></coverage>"
    )


def junit_xml(passed: int = 1, failed: tuple[str, ...] = (), errors: tuple[str, ...] = (),
              skipped: int = 0) -> str:
    """A pytest-style JUnit report."""
    cases = [f'<testcase classname="tests.test_x" name="test_ok_{i}"/>' for i in range(passed)]
    cases += [f'<testcase classname="tests.test_x" name="{n}"><failure message="boom {n}">'
              f"trace</failure></testcase>" for n in failed]
    cases += [f'<testcase classname="tests.test_x" name="{n}"><error message="crash"/></testcase>'
              for n in errors]
    cases += [f'<testcase classname="tests.test_x" name="test_skip_{i}"><skipped message="s"/>'
              f"</testcase>" for i in range(skipped)]
    return f'<testsuites><testsuite name="pytest">{"".join(cases)}</testsuite></testsuites>'


def junit_files(cases: Sequence[CaseOutcome], names: Sequence[str] = ()) -> tuple[JUnitFile, ...]:
    """What the coverage check reads from JUnit files that hold ``cases`` (by their source), and the files ``names``.

    A passed or skipped case becomes a count, as ``read_junit`` makes it; a failed or errored one is kept.
    """
    sources = dict.fromkeys([*names, *(c.source for c in cases)])
    return tuple(JUnitFile(source, sum(c.source == source and c.outcome == "passed" for c in cases),
                           sum(c.source == source and c.outcome == "skipped" for c in cases),
                           tuple(c for c in cases if c.source == source and c.outcome in ("failed", "error")))
                 for source in sources)


def result(check: str, status: Status, finished: dt.datetime | None = None,
           summary: str = "summary") -> CheckResult:
    """A result record as a check would write it."""
    finished = finished or dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
    return CheckResult(
        check=check, status=status, summary=summary,
        measurements=(Measurement("x", 1, "", "== 1", status is not Status.FAIL),),
        tool=ToolInfo("tool", "1.0"),
        started_at=finished - dt.timedelta(seconds=3), finished_at=finished,
        settings_digest=discovered_digests().get(check),
    )


def discovered_digests() -> dict[str, str]:
    """The settings digests under the config ``readiness verdict`` would discover from here (none: no config),
    so that a result written by hand reads as if its check had run under it."""
    from pipeline.config import ConfigError, discover
    from pipeline.settings_digest import expected_digests

    path = discover(None, os.environ)
    try:
        stamp = (str(path.resolve()), path.stat().st_mtime_ns, os.environ.get("READINESS_PROFILE"))
    except OSError:
        return {}
    if stamp not in _DIGESTS:
        try:
            _DIGESTS[stamp] = expected_digests(load_config(path))
        except ConfigError:
            _DIGESTS[stamp] = {}
    return _DIGESTS[stamp]


_DIGESTS: dict[tuple[str, int, str | None], dict[str, str]] = {}


def write_results(folder: Path, statuses: dict[str, Status]) -> None:
    """Write one result file per check into ``folder/results``."""
    for check, status in statuses.items():
        write_result(result(check, status), folder)


def stamp_results(folder: Path, config: Path | None = None, profile: str | None = None) -> None:
    """Record in every result of ``folder/results`` the settings digest of ``config`` (default: the one
    ``readiness verdict`` discovers), as if each check had run under it: results written by hand have none."""
    from pipeline.settings_digest import expected_digests

    expected = expected_digests(load_config(config, profile))
    for path in sorted((folder / "results").glob("*.json")):
        data = json.loads(path.read_text())
        if data.get("check") in expected:
            data["settings_digest"] = expected[data["check"]]
            path.write_text(json.dumps(data))


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The OSV index cache of this test session: never the user's ~/.cache/readiness."""
    folder = tmp_path_factory.mktemp("readiness-cache")
    os.environ["READINESS_CACHE_DIR"] = str(folder)
    return folder


@pytest.fixture
def shared_fixtures() -> Path:
    """The real tool outputs in ../shared; skipped with a reason where they are absent."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"real fixtures not found at {SHARED_FIXTURES} (../shared is absent)")
    return SHARED_FIXTURES


@pytest.fixture
def tiny_project(tmp_path: Path) -> Path:
    """A real little Python project whose tests run under pytest + coverage.py."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text(
        "def add(a, b):\n    return a + b\n\n\ndef unused(a):\n    return a * 2\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_pkg.py").write_text(
        "from pkg import add, unused\n\n\ndef test_add():\n    assert add(1, 2) == 3\n\n\n"
        "def test_unused():\n    assert unused(2) == 4\n")
    return tmp_path


def python_test_command(report_dir: str = "reports/evidence") -> list[str]:
    """The test command a Python project would configure, run with this interpreter."""
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--cov=pkg",
            f"--cov-report=xml:{report_dir}/coverage.xml", f"--junitxml={report_dir}/junit.xml"]


def need_tool(name: str) -> str:
    """Path of a system tool, or skip the test with the reason."""
    path = shutil.which(name)
    if not path:
        pytest.skip(f"{name} is not installed here (.ci/run installs it)")
    return path


EXAMPLE = REPO / "examples" / "orders-service"


def example_start_settings(orders: int = 2000, customers: int = 200) -> dict[str, Any]:
    """``service.start`` for the bundled example, seeded small so that tests start it fast."""
    config = yaml.safe_load((REPO / "configs" / "readiness.yaml").read_text())
    start: dict[str, Any] = config["service"]["start"]
    start["workdir"] = str(EXAMPLE)
    start["setup"][1] = ["{python}", "-m", "orders_service.seed", "--orders", str(orders),
                         "--customers", str(customers)]
    return start


def need_example_service() -> None:
    """Skip with the reason when the example service's requirements are not installed."""
    missing = [m for m in ("fastapi", "uvicorn", "jwt", "psycopg_pool") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"the example service's requirements are not installed ({', '.join(missing)}); "
                    "pip install -r examples/orders-service/requirements-test.txt (nox -s tests does)")


@pytest.fixture(scope="session")
def example_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The bundled example service and its PostgreSQL, started once for the session.

    Yields the environment the checks get (READINESS_BASE_URL, READINESS_DATABASE_URL,
    READINESS_API_TOKEN).
    """
    need_example_service()
    from pipeline.target import running_target

    evidence = tmp_path_factory.mktemp("example-target-evidence")
    with running_target(example_start_settings(), REPO, evidence) as target:
        yield dict(target.env)


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Docker engine: the one DOCKER_HOST points at, else a private dockerd the tests start.

    The private engine (vfs storage, no iptables, no bridge: what runs in this sandbox)
    lives in a temporary folder and is stopped at the end of the session.
    """
    import docker

    with contextlib.suppress(docker.errors.DockerException):
        client = docker.from_env(timeout=10)
        client.ping()
        yield client
        return
    dockerd = shutil.which("dockerd")
    if not dockerd or os.geteuid() != 0:
        pytest.skip("no Docker engine answers and dockerd cannot be started here "
                    "(apt install docker.io and run as root; .ci/run does)")
    folder = Path(tempfile.mkdtemp(prefix="readiness-dockerd-"))
    socket_path = folder / "docker.sock"
    log = (folder / "dockerd.log").open("wb")
    daemon = subprocess.Popen(
        [dockerd, "--storage-driver=vfs", "--iptables=false", "--bridge=none", "--data-root", str(folder / "root"),
         "--exec-root", str(folder / "exec"), "--pidfile", str(folder / "docker.pid"), "-H", f"unix://{socket_path}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    old_host = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = f"unix://{socket_path}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                client = docker.DockerClient(base_url=f"unix://{socket_path}", timeout=30)
                client.ping()
                break
            except docker.errors.DockerException:
                if daemon.poll() is not None or time.monotonic() > deadline:
                    pytest.skip(f"dockerd did not start: {(folder / 'dockerd.log').read_text()[-500:]}")
                time.sleep(0.3)
        yield client
    finally:
        if old_host is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = old_host
        daemon.terminate()
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
        log.close()
        # dockerd leaves its network namespace mounted under exec-root.
        for line in Path("/proc/mounts").read_text().splitlines():
            mount_point = line.split()[1]
            if mount_point.startswith(str(folder)):
                subprocess.run(["umount", "-l", mount_point], check=False, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def image_from_binary(client: Any, binary: str, repository: str, tag: str, workdir: Path) -> str:
    """A local image holding one static binary as its entry point (no registry is reachable here)."""
    rootfs = workdir / "rootfs"
    (rootfs / "usr" / "bin").mkdir(parents=True, exist_ok=True)
    (rootfs / "tmp").mkdir(exist_ok=True)
    shutil.copy2(binary, rootfs / "usr" / "bin" / Path(binary).name)
    archive = workdir / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(rootfs, arcname=".")
    client.api.import_image_from_data(archive.read_bytes(), repository=repository, tag=tag,
                                      changes=[f'ENTRYPOINT ["/usr/bin/{Path(binary).name}"]'])
    return f"{repository}:{tag}"


@pytest.fixture(scope="session")
def postgres_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL in a temporary folder for the session (system server or pgserver's)."""
    from pipeline.target import TargetError, running_postgres

    try:
        with running_postgres(tmp_path_factory.mktemp("postgres-logs")) as dsn:
            yield dsn
    except TargetError as exc:
        pytest.skip(f"no PostgreSQL can start here: {exc}")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Chromium (the system's) for the session; skips where it is not installed."""
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("chromium is not installed here (.ci/run installs the Debian package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(chromium), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield instance
        instance.close()


@pytest.fixture(scope="session")
def sarif_schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The SARIF 2.1.0 JSON Schema, as Microsoft ships it in @microsoft/jest-sarif (npm)."""
    configured = os.environ.get("READINESS_SARIF_SCHEMA")
    if configured and Path(configured).is_file():
        return dict(json.loads(Path(configured).read_text()))
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed, so the SARIF schema cannot be fetched (set READINESS_SARIF_SCHEMA)")
    folder = tmp_path_factory.mktemp("sarif-schema")
    done = subprocess.run([npm, "pack", "@microsoft/jest-sarif@1.0.0-beta.0"], cwd=folder, capture_output=True,
                          text=True, timeout=120, check=False)
    if done.returncode != 0:
        pytest.skip(f"the npm registry did not give the SARIF schema package: {done.stderr.strip()[:200]}")
    with tarfile.open(next(folder.glob("*.tgz"))) as archive:
        member = archive.extractfile("package/lib/schemas/sarif-2.1.0-rtm.5.json")
        if member is None:
            pytest.fail("the SARIF schema package no longer holds lib/schemas/sarif-2.1.0-rtm.5.json")
        return dict(json.loads(member.read()))
