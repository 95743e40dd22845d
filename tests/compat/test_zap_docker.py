"""The zap check's Docker path on a real Docker engine, with a STAND-IN for the ZAP image.

The ZAP engine and its image cannot be installed here. The stand-in is a small static
program, imported as an image that runs as uid 1000 like the real one, which does what
zap-baseline.py does at the boundary the gate depends on: it reads its arguments, writes
a real ZAP report (from ../shared/fixtures/real/zap) where -J names it inside /zap/wrk,
prints zap-baseline's PASS count, and exits with a chosen code. It also records its
argv and the network interfaces it sees, so the command line, the mount and the host
networking can be asserted.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.model import CheckResult, Status
from pipeline.runner import run_check
from tests.conftest import config_from

STAND_IN_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static void copy(const char *from, const char *to) {
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buffer[65536]; size_t n;
    if (!in || !out) { fprintf(stderr, "stand-in: cannot copy %s to %s\n", from, to); exit(3); }
    while ((n = fread(buffer, 1, sizeof buffer, in)) > 0) fwrite(buffer, 1, n, out);
    fclose(in); fclose(out);
}
static int number(const char *path) {
    int v = 0; FILE *f = fopen(path, "r");
    if (f) { fscanf(f, "%d", &v); fclose(f); }
    return v;
}
int main(int argc, char **argv) {
    char target[4096];
    FILE *record = fopen("/zap/wrk/argv.txt", "w");
    if (!record) { fprintf(stderr, "stand-in: /zap/wrk is not writable\n"); return 3; }
    for (int i = 0; i < argc; i++) fprintf(record, "%s\n", argv[i]);
    fclose(record);
    copy("/proc/net/dev", "/zap/wrk/netdev.txt");
    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "-J")) {
            snprintf(target, sizeof target, "/zap/wrk/%s", argv[i + 1]);
            copy("/stand-in/report.json", target);
        }
    }
    printf("FAIL-NEW: 0\tFAIL-INPROG: 0\tWARN-NEW: 3\tWARN-INPROG: 0\tINFO: 0\tIGNORE: 0\tPASS: %d\n",
           number("/stand-in/pass-count"));
    return number("/stand-in/exit-code");
}
"""


@pytest.fixture(scope="module")
def stand_in_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed, so the ZAP stand-in cannot be built")
    folder = tmp_path_factory.mktemp("zap-stand-in")
    (folder / "stand_in.c").write_text(STAND_IN_C)
    subprocess.run([gcc, "-static", "-O1", "-o", str(folder / "zap-baseline.py"), str(folder / "stand_in.c")],
                   check=True, capture_output=True)
    return folder / "zap-baseline.py"


@pytest.fixture(scope="module")
def stand_in_image(docker_engine: Any, stand_in_binary: Path, tmp_path_factory: pytest.TempPathFactory,
                   shared_fixtures_dir: Path) -> Iterator[Callable[[int, int], str]]:
    """A factory: stand_in_image(exit_code, pass_count) -> image tag."""
    made: list[str] = []
    report = shared_fixtures_dir / "zap" / "json" / "bcgov-bc-emli-vhers-scan-zap2.14.0-report_json.json"

    def build(exit_code: int, pass_count: int) -> str:
        import tarfile

        tag = f"readiness-test/zap-stand-in:exit{exit_code}-pass{pass_count}"
        root = tmp_path_factory.mktemp("rootfs")
        for folder in ("usr/local/bin", "stand-in", "zap/wrk", "tmp"):
            (root / folder).mkdir(parents=True)
        for directory in (root, *[p for p in root.rglob("*") if p.is_dir()]):
            directory.chmod(0o755)  # the image runs as uid 1000, like ZAP's
        shutil.copy2(stand_in_binary, root / "usr/local/bin/zap-baseline.py")
        shutil.copy2(report, root / "stand-in/report.json")
        (root / "stand-in/exit-code").write_text(str(exit_code))
        (root / "stand-in/pass-count").write_text(str(pass_count))
        archive = root.parent / f"{root.name}.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(root, arcname=".")
        docker_engine.api.import_image_from_data(
            archive.read_bytes(), repository=tag.split(":")[0], tag=tag.split(":")[1],
            changes=["USER 1000", "WORKDIR /zap", "ENV PATH=/usr/local/bin:/usr/bin:/bin"])
        made.append(tag)
        return tag

    yield build
    for tag in made:
        docker_engine.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def shared_fixtures_dir() -> Path:
    from tests.conftest import SHARED_FIXTURES

    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"real fixtures not found at {SHARED_FIXTURES} (../shared is absent)")
    return SHARED_FIXTURES


def _scan(tmp_path: Path, image: str, **extra: Any) -> CheckResult:
    rules = tmp_path / "rules.tsv"
    rules.write_text("10055\tFAIL\t(CSP)\n")
    body = {"version": 1, "checks": {"zap": {"target": "http://127.0.0.1:8000", "mode": "docker", "image": image,
                                             "rules": str(rules), "minutes": 1, **extra}}}
    return run_check("zap", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path)


def test_docker_path_runs_zap_baseline_with_the_right_command_mount_and_network(
        tmp_path: Path, stand_in_image: Callable[[int, int], str], docker_engine: Any) -> None:
    image = stand_in_image(1, 40)
    result = _scan(tmp_path, image)
    work = tmp_path / "reports" / "evidence" / "zap"
    assert (work / "argv.txt").read_text().splitlines() == [
        "zap-baseline.py", "-t", "http://127.0.0.1:8000", "-J", "report.json", "-x", "report.xml", "-m", "1",
        "-c", "rules.tsv"]
    # Host networking: the container sees the host's interfaces, not only its own loopback.
    host_interfaces = {line.split(":")[0].strip() for line in Path("/proc/net/dev").read_text().splitlines()[2:]}
    seen = {line.split(":")[0].strip() for line in (work / "netdev.txt").read_text().splitlines()[2:]}
    assert seen == host_interfaces
    assert result.tool.mode == "docker" and result.tool.exit_code == 1
    assert result.status is Status.FAIL  # the rules file makes 10055 (medium, CSP) a FAIL
    assert [f.id for f in result.findings if f.failing] == ["alert:10055", "alert:10098"]
    assert "PASS: 40" in (work / "zap.log").read_text()
    assert docker_engine.containers.list(all=True, filters={"ancestor": image}) == []


def test_exit_3_is_an_error(tmp_path: Path, stand_in_image: Callable[[int, int], str]) -> None:
    result = _scan(tmp_path, stand_in_image(3, 0))
    assert result.status is Status.ERROR and "exited with code 3" in result.summary


def test_zero_passed_rules_means_nothing_was_scanned(tmp_path: Path, stand_in_image: Callable[[int, int], str]) -> None:
    result = _scan(tmp_path, stand_in_image(0, 0))
    assert result.status is Status.ERROR and "nothing was really scanned" in result.summary


def test_local_install_path_runs_zap_baseline_in_the_work_folder(tmp_path: Path, shared_fixtures_dir: Path) -> None:
    """A STAND-IN for a local ZAP install (zap-baseline.py on PATH): a script that replays a real report."""
    import sys

    script = tmp_path / "zap-baseline.py"
    script.write_text(f"""#!{sys.executable}
import shutil, sys
args = sys.argv[1:]
open("argv.txt", "w").write("\\n".join(args))
# Outside Docker, zap-baseline writes its reports relative to the folder it runs in.
shutil.copyfile({str(shared_fixtures_dir / 'zap' / 'json' / 'bcgov-bc-emli-vhers-scan-zap2.14.0-report_json.json')!r},
                args[args.index("-J") + 1])
print("FAIL-NEW: 0 WARN-NEW: 11 PASS: 37")
sys.exit(2)
""")
    script.chmod(0o755)
    body = {"version": 1, "checks": {"zap": {"target": "http://127.0.0.1:8000", "mode": "local",
                                             "zap_path": str(script), "fail_at": "high"}}}
    result = run_check("zap", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path)
    work = tmp_path / "reports" / "evidence" / "zap"
    assert (work / "argv.txt").read_text().splitlines()[:2] == ["-t", "http://127.0.0.1:8000"]
    assert result.tool.mode == "run" and result.tool.exit_code == 2
    assert result.status is Status.PASS  # medium alerts only, and fail_at is high
    assert any(m.name == "zap-baseline exit code" and m.value == 2 for m in result.measurements)
