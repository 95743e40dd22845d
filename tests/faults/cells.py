"""Each cell of the fault matrix as a plan: the faulted check's settings and the world's misbehaviour.

A check's healthy settings pass (``test_matrix.test_without_faults_every_check_passes``);
each fault changes one thing. The table in ``test_matrix``'s docstring says what each
fault means for each check.
"""

from __future__ import annotations

import base64
import os
import shutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import EXAMPLE
from tests.faults.api_standin import api_env
from tests.faults.damage import damage
from tests.faults.lab import Lab, Plan, bare_python
from tests.faults.standins import crashing_after, damage_command, damaging_wrapper, pid_wrapper, write_script
from tests.fuzzing import alias_bomb

HANG_BUDGET_S = 4  # timeout_s of the hang cells
NO_TOOLS_PATH = "/usr/bin:/bin"  # neither pytest, k6 nor pip-audit is there


def healthy(lab: Lab, check: str, folder: Path) -> dict[str, Any]:
    """Settings under which ``check`` passes in this lab, for the cell whose folder is ``folder``."""
    url = lab.target.url(folder.name)
    a = lab.assets
    evidence = folder / "reports" / "evidence"
    docs = a.get("docs", lab.root / "docs")  # written with the matrix database (tests/faults/conftest.py)
    return {
        "coverage": {"command": [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--cov=pkg",
                                 f"--cov-report=xml:{evidence / 'coverage.xml'}",
                                 f"--junitxml={evidence / 'junit.xml'}", "tests"],
                     "cobertura": "reports/evidence/coverage.xml", "junit": ["reports/evidence/junit.xml"],
                     "cwd": "project", "min_line_rate": 0.5, "timeout_s": 60,
                     "env": {"SERVICE_URL": url, "COVERAGE_FILE": str(folder / ".coverage")}},
        "openapi": {"spec": str(a["spec"]), "served_spec": f"{url}/openapi.json", "timeout_s": 20},
        "zap": {"mode": "local", "zap_path": str(a["zap-baseline.py"]), "target": url, "fail_at": "high",
                "timeout_s": 30},
        "audit": {"requirements": [str(a["requirements.txt"])], "service": "pypi", "timeout_s": 60},
        "k6": {"mode": "native", "script": str(a["load.js"]), "base_url": url, "vus": 1, "duration": "1s",
               "thresholds": {"http_req_duration": ["p(95)<2000"], "http_req_failed": ["rate<0.01"]},
               "timeout_s": 60},
        "explain": {"dsn": lab.dsn or "", "runs": 1, "timeout_s": 30,
                    "queries": [{"name": "item", "sql_file": str(a["item.sql"]), "params": {"id": 1}, "max_ms": 2000}]},
        "dashboards": {"base_url": url, "max_response_ms": 5000, "timeout_s": 30,
                       "require_metrics": [{"name": "http_request_duration_seconds", "type": "histogram",
                                            "labels": ["route"]}],
                       "dashboard_files": [str(a["dashboard.json"])], "require_dashboards": ["matrix"],
                       "alert_rule_files": [str(a["alerts.yml"])], "require_alerts": ["MatrixHighLatency"]},
        "schema": {"dsn": lab.dsn or "", "timeout_s": 60,
                   "migrations": {"up": [*MIGRATE, "up", "--dir", str(a["migrations"])],
                                  "down": [*MIGRATE, "down", "--dir", str(a["migrations"])],
                                  "workdir": str(EXAMPLE), "up_files": [f"{a['migrations']}/*.up.sql"]},
                   "squawk": {"files": [f"{a['migrations']}/*.up.sql"]}},
        "docs": {"documents": {"api": str(docs / "api-documentation.md"),
                               "database": str(docs / "database-schema.md"),
                               "security": str(docs / "security-implementation.md")},
                 "spec": str(a["spec"]), "dsn": lab.dsn or "", "timeout_s": 60,
                 "mermaid_js": str(folder / "no-mermaid.min.js")},  # diagrams not validated: no browser run
        "api": {"spec": str(a["api-spec.json"]), "base_url": url, "max_examples": 2, "max_time_s": 30,
                "workers": 1, "request_timeout_s": 3, "timeout_s": 40},
        "slo": {"spec": str(a["api-spec.json"]), "config": str(a["slo-gate.yaml"]), "timeout_s": 20,
                "alert_rule_files": [str(a["slo-alerts.yml"])], "dashboard_files": [str(a["slo-dashboard.json"])]},
    }[check]


MIGRATE = ["{python}", "-m", "orders_service.migrate"]  # the example's runner, on the lab's own migrations


def plan(lab: Lab, check: str, fault: str) -> Plan:
    """The plan of one cell."""
    folder = lab.folder(check, fault)
    settings = healthy(lab, check, folder)
    return PLANNERS[check](lab, fault, folder, settings)


def _busy(lab: Lab, folder: Path, route: str) -> Callable[[], bool]:
    name = folder.name
    return lambda: lab.cells.hit(name, route).is_set()


def _first_on_path(folder: Path) -> dict[str, str]:
    return {"PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"}


def coverage(lab: Lab, fault: str, folder: Path, s: dict[str, Any]) -> Plan:
    project = folder / "project"
    extra: dict[str, str] = {}
    add = {"crash": "import os, signal\n\ndef test_native_code():\n    os.kill(os.getpid(), signal.SIGSEGV)\n",
           "hang": "import time\n\ndef test_waits_forever():\n    time.sleep(600)\n",
           "SIGTERM": f"import pathlib, time\n\ndef test_busy():\n    pathlib.Path({str(folder / 'busy')!r})"
                      ".write_text('running')\n    time.sleep(600)\n"}
    if fault in add:
        extra["tests/test_fault.py"] = add[fault]
    expect, env, python, trigger = "error", {}, sys.executable, None
    if fault == "tool missing":
        s["command"] = ["pytest", *s["command"][3:]]
        env, python = {"PATH": NO_TOOLS_PATH}, lab.bare_python
    elif fault == "hang":
        s["timeout_s"] = HANG_BUDGET_S
    elif fault in ("truncated", "empty", "hostile"):
        mode = {"hostile": "entity-bomb"}.get(fault, fault)
        s["command"] = damage_command(mode, str(folder / "reports" / "evidence" / "coverage.xml"), *s["command"])
    elif fault == "target down":
        s["env"]["SERVICE_URL"], expect = lab.addresses["closed"], "fail"
    elif fault == "SIGTERM":
        trigger = (folder / "busy").exists

    def prepare(cell: Path) -> None:
        shutil.copytree(lab.assets["project"], project, dirs_exist_ok=True)
        for name, text in extra.items():
            (project / name).write_text(text)

    return Plan("coverage", fault, s, expect, env, python, trigger=trigger, prepare=prepare)


def openapi(lab: Lab, fault: str, folder: Path, s: dict[str, Any]) -> Plan:
    spec = lab.assets["spec"].read_text()
    written = {"tool missing": None, "crash": spec.replace("'200': {description: ok}",
                                                           "'200': {$ref: '#/components/responses/Nowhere'}", 1),
               "truncated": "\n".join(spec.splitlines()[: len(spec.splitlines()) // 2]) + "\n", "empty": "",
               "hostile": alias_bomb_spec(spec)}
    behaviour, expect, trigger = {}, "error", None
    if fault in written:
        s["spec"] = str(folder / "openapi.yaml")
    if fault == "hang":
        behaviour, s["timeout_s"] = {"openapi.json": "hang"}, HANG_BUDGET_S
    elif fault == "target down":
        s["served_spec"] = f"{lab.addresses['closed']}/openapi.json"
    elif fault == "SIGTERM":
        behaviour, trigger = {"openapi.json": "hang"}, _busy(lab, folder, "openapi.json")

    def prepare(cell: Path) -> None:
        if written.get(fault) is not None:
            (cell / "openapi.yaml").write_text(written[fault] or "")

    return Plan("openapi", fault, s, expect, behaviour=behaviour, trigger=trigger, prepare=prepare)


def alias_bomb_spec(spec: str) -> str:
    """The spec with a YAML alias bomb (9**9 values once expanded) as a schema's enum."""
    anchors, alias = alias_bomb(indent="  ")
    return (spec.replace("components:\n", f"x-anchors:\n{anchors}\ncomponents:\n", 1)
            .replace("    Item:\n      type: object\n", f"    Item:\n      type: object\n      enum: {alias}\n", 1))


def zap(lab: Lab, fault: str, folder: Path, s: dict[str, Any]) -> Plan:
    env = {"READINESS_ZAP_STANDIN_MARKER": str(folder / "busy")}
    trigger = None
    if fault == "tool missing":
        s["zap_path"] = str(folder / "zap-baseline.py")  # nothing there
    elif fault == "target down":
        s["target"] = lab.addresses["closed"]
    else:
        env["READINESS_ZAP_STANDIN_FAULT"] = fault.lower()
    if fault == "hang":
        s["timeout_s"] = HANG_BUDGET_S
    elif fault == "SIGTERM":
        trigger = (folder / "busy").exists
    return Plan("zap", fault, s, "error", env, trigger=trigger)


def audit(lab: Lab, fault: str, folder: Path, s: dict[str, Any]) -> Plan:
    name = folder.name
    assert lab.vulns is not None
    env, python, behaviour, trigger = lab.vulns.env(name), sys.executable, {}, None
    tools = folder / "bin"
    real = str(lab.assets["pip-audit"])
    prepare: Callable[[Path], None] | None = None
    if fault == "tool missing":
        env, python = {"PATH": NO_TOOLS_PATH, **env}, lab.bare_python
    elif fault == "crash":
        lab.cells.pid_files[name] = folder / "pids"
        behaviour, env = {"vulnerability service": "crash-tool"}, {**env, **_first_on_path(tools)}

        def prepare(cell: Path) -> None:
            tools.mkdir()
            pid_wrapper(tools / "pip-audit", real, folder / "pids")
    elif fault == "hang":
        behaviour, s["timeout_s"] = {"vulnerability service": "hang"}, HANG_BUDGET_S
    elif fault in ("truncated", "empty", "hostile"):
        env = {**env, **_first_on_path(tools)}
        mode = {"hostile": "pip-audit-nan"}.get(fault, fault)

        def prepare(cell: Path) -> None:
            tools.mkdir()
            damaging_wrapper(tools / "pip-audit", mode, "@--output", real)
    elif fault == "target down":
        closed = lab.addresses["closed"].removeprefix("http://")
        env = {**env, "HTTPS_PROXY": f"http://{closed}", "https_proxy": f"http://{closed}"}
    elif fault == "SIGTERM":
        behaviour, trigger = {"vulnerability service": "hang"}, _busy(lab, folder, "vulnerability service")
    return Plan("audit", fault, s, "error", env, python, behaviour, trigger, prepare=prepare)


def k6(lab: Lab, fault: str, folder: Path, s: dict[str, Any]) -> Plan:
    name = folder.name
    env, python, behaviour, trigger, expect = {}, sys.executable, {}, None, "error"
    real = str(lab.assets["k6"])
    prepare: Callable[[Path], None] | None = None
    if fault == "tool missing":
        env, python = {"PATH": NO_TOOLS_PATH}, lab.bare_python
    elif fault == "crash":
        lab.cells.pid_files[name] = folder / "pids"
        behaviour, s["binary"] = {"items": "crash-tool"}, str(folder / "k6")

        def prepare(cell: Path) -> None:
            pid_wrapper(cell / "k6", real, cell / "pids")
    elif fault == "hang":
        s["base_url"], s["timeout_s"] = lab.addresses["silent"], HANG_BUDGET_S
    elif fault in ("truncated", "empty", "hostile"):
        s["binary"] = str(folder / "k6")
        mode = {"hostile": "k6-forged"}.get(fault, fault)

        def prepare(cell: Path) -> None:
            damaging_wrapper(cell / "k6", mode, "@--summary-export", real)
    elif fault == "target down":
        s["base_url"], expect = lab.addresses["closed"], "fail"
    elif fault == "SIGTERM":
        s["duration"], trigger = "60s", _busy(lab, folder, "items")
    return Plan("k6", fault, s, expect, env, python, behaviour, trigger, prepare=prepare)


def explain(lab: Lab, fault: str, folder: Path, s: dict[str, Any]) -> Plan:
    query = s["queries"][0]
    sleeping = {"crash": 20, "hang": 600, "SIGTERM": 60}
    trigger, on_trigger = None, None
    if fault in sleeping:
        query["sql_file"] = str(folder / "sleep.sql")
    if fault == "tool missing":
        s["dsn"] = ""
    elif fault == "crash":
        trigger, on_trigger = (lambda: bool(lab.backends(folder.name))), (lambda: lab.terminate(folder.name))
    elif fault == "hang":
        s["timeout_s"] = HANG_BUDGET_S
    elif fault in ("truncated", "empty", "hostile"):
        query["plan"] = str(folder / "plan.json")
    elif fault == "target down":
        s["dsn"] = lab.addresses["closed-dsn"]
    elif fault == "SIGTERM":
        s["timeout_s"], trigger = 60, lambda: bool(lab.backends(folder.name))

    def prepare(cell: Path) -> None:
        if fault in sleeping:
            (cell / "sleep.sql").write_text(f"SELECT pg_sleep({sleeping[fault]}), '{cell.name}' AS cell, name "
                                            "FROM fault_items WHERE id = :id")
        plan_text = lab.assets["plan.json"].read_text()
        damaged = {"truncated": plan_text[: len(plan_text) // 2], "empty": "",
                   "hostile": plan_text.replace('"Execution Time": ', '"Execution Time": -1, "Was": ', 1)}
        if fault in damaged:
            (cell / "plan.json").write_text(damaged[fault])

    return Plan("explain", fault, s, "error", trigger=trigger, on_trigger=on_trigger, prepare=prepare)


def dashboards(lab: Lab, fault: str, folder: Path, s: dict[str, Any]) -> Plan:
    env, behaviour, trigger, expect = {}, {}, None, "error"
    prepare: Callable[[Path], None] | None = None
    if fault == "tool missing":
        s["prometheus"] = {"url": lab.addresses["closed"], "job": "matrix", "wait_s": 1}
    elif fault == "crash":
        env = _first_on_path(folder / "bin")

        def prepare(cell: Path) -> None:
            (cell / "bin").mkdir()
            crashing_after(cell / "bin" / "promtool", str(lab.assets["promtool"]))
    elif fault == "hang":
        behaviour, s["timeout_s"], expect = {"metrics": "hang"}, HANG_BUDGET_S, "fail"
    elif fault in ("truncated", "empty"):
        behaviour = {"metrics": fault}
        expect = "fail" if fault == "empty" else "error"
    elif fault == "hostile":
        s["alert_rule_files"] = [str(folder / "alerts.yml")]

        def prepare(cell: Path) -> None:
            (cell / "alerts.yml").write_text(alias_bomb_rules(lab.assets["alerts.yml"].read_text()))
    elif fault == "target down":
        s["base_url"], expect = lab.addresses["closed"], "fail"
    elif fault == "SIGTERM":
        behaviour, trigger = {"metrics": "hang"}, _busy(lab, folder, "metrics")
    return Plan("dashboards", fault, s, expect, env, behaviour=behaviour, trigger=trigger, prepare=prepare)


def alias_bomb_rules(rules: str) -> str:
    """The rule file with a YAML alias bomb as a label value (promtool refuses it; the gate must too)."""
    anchors, alias = alias_bomb(indent="  ")
    return f"x-anchors:\n{anchors}\n" + rules.replace("severity: page", f"severity: {alias}")


def schema(lab: Lab, fault: str, folder: Path, s: dict[str, Any]) -> Plan:
    env, python, trigger = {}, sys.executable, None
    squawk = str(lab.assets["squawk"])
    tools = folder / "bin"
    # squawk writes its report to stdout, which the gate keeps: these wrappers damage that stream.
    wrappers = {"crash": None, "truncated": f'"{squawk}" "$@" > "$0.out"; code=$?\n'
                                            'head -c $(( $(wc -c < "$0.out") / 2 )) "$0.out"; exit $code\n',
                "empty": f'"{squawk}" "$@" > /dev/null; exit $?\n',
                "hostile": f'"{squawk}" "$@" | sed \'s/"line":[0-9]*/"line":-1/g\'; exit 1\n'}
    sleeper = [sys.executable, "-c", f"import pathlib, time; pathlib.Path({str(folder / 'busy')!r})"
                                     ".write_text('up'); time.sleep(600)"]
    if fault == "tool missing":
        env, python = {"PATH": NO_TOOLS_PATH}, lab.bare_python
    elif fault in wrappers:
        env = _first_on_path(tools)
    elif fault in ("hang", "SIGTERM"):
        s["migrations"]["up"] = sleeper
        s["timeout_s"] = HANG_BUDGET_S if fault == "hang" else 60
        trigger = (folder / "busy").exists if fault == "SIGTERM" else None
    elif fault == "target down":
        s["dsn"] = lab.addresses["closed-dsn"]

    def prepare(cell: Path) -> None:
        if fault in wrappers:
            tools.mkdir()
            script = wrappers[fault]
            if script is None:
                crashing_after(tools / "squawk", squawk)
            else:
                write_script(tools / "squawk", "#!/bin/sh\n" + script)

    return Plan("schema", fault, s, "error", env, python, trigger=trigger, prepare=prepare)


def docs(lab: Lab, fault: str, folder: Path, s: dict[str, Any]) -> Plan:
    env: dict[str, str] = {}
    trigger = None
    browser = folder / "chromium"
    forged = base64.b64encode(b'[{"ok": "yes", "error": ""}]').decode()
    # Chromium writes the page it ran to stdout, which the gate reads: these stand-ins for it damage that.
    scripts = {"crash": None, "hang": "sleep 600\n",
               "truncated": f'"{lab.assets.get("chromium")}" "$@" > "$0.out"; code=$?\n'
                            'head -c $(( $(wc -c < "$0.out") / 2 )) "$0.out"; exit $code\n',
               "empty": "exit 0\n", "hostile": f"echo '<pre id=\"answer\">{forged}</pre>'\n",
               "SIGTERM": f'echo up > "{folder / "busy"}"; sleep 600\n'}
    if fault == "tool missing":
        s["spec"] = str(folder / "openapi.yaml")  # nothing there
    elif fault == "target down":
        s["dsn"] = lab.addresses["closed-dsn"]
    else:
        s["mermaid_js"], s["chromium"] = str(lab.assets["mermaid.min.js"]), str(browser)
    if fault == "hang":
        s["timeout_s"] = HANG_BUDGET_S
    elif fault == "SIGTERM":
        trigger = (folder / "busy").exists

    def prepare(cell: Path) -> None:
        if fault not in scripts:
            return
        script = scripts[fault]
        if script is None:
            crashing_after(browser, str(lab.assets["chromium"]))
        else:
            write_script(browser, "#!/bin/sh\n" + script)

    return Plan("docs", fault, s, "error", env, trigger=trigger, prepare=prepare)


def api(lab: Lab, fault: str, folder: Path, s: dict[str, Any]) -> Plan:
    name = folder.name
    env, python, behaviour, trigger = api_env(), sys.executable, {}, None
    if fault == "tool missing":
        env, python = {**env, "PATH": NO_TOOLS_PATH}, python_without(lab, "schemathesis")
    elif fault == "crash":
        behaviour = {"things": "crash-schemathesis"}
    elif fault == "hang":
        s["base_url"], s["timeout_s"] = lab.addresses["silent"], HANG_BUDGET_S
    elif fault in ("truncated", "empty", "hostile"):
        report = folder / "reports" / "evidence" / "api" / "schemathesis.json"
        mode = {"hostile": "schemathesis-forged"}.get(fault, fault)
        lab.target.api.on_probe[name] = lambda: damage(report, mode)  # schemathesis is done; the probes follow
    elif fault == "target down":
        s["base_url"] = lab.addresses["closed"]
    elif fault == "SIGTERM":
        behaviour, trigger = {"things": "hang"}, _busy(lab, folder, "things")
    return Plan("api", fault, s, "error", env, python, behaviour, trigger)


def python_without(lab: Lab, module: str) -> str:
    """The bare interpreter, made once more, where ``module`` cannot be imported (as if not installed)."""
    folder = lab.root / f"bare-env-without-{module}"
    if not folder.exists():
        python = bare_python(folder)
        site = next(folder.glob("lib/python3*/site-packages"))
        (site / "hide_module.py").write_text(HIDE_MODULE.format(module=module))
        (site / "zz-hide-module.pth").write_text("import hide_module\n")  # after gate-libraries.pth
        return python
    return str(folder / "bin" / "python")


HIDE_MODULE = """import importlib.abc, sys


class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == {module!r} or name.startswith({module!r} + "."):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, Hide())
"""


def slo(lab: Lab, fault: str, folder: Path, s: dict[str, Any]) -> Plan:
    rules = lab.assets["slo-alerts.yml"].read_text()
    written = {"crash": rules.replace(" > 0.2", " > > 0.2", 1), "truncated": rules[: rules.index("[5m]")],
               "empty": "", "hostile": alias_bomb_rules(rules)}
    env, expect, trigger = {}, "error", None
    fifo = folder / "openapi.fifo"
    if fault == "tool missing":
        s["spec"] = str(folder / "openapi.json")  # nothing there
    elif fault in written:
        s["alert_rule_files"] = [str(folder / "alerts.yml")]
    elif fault in ("hang", "SIGTERM"):
        s["spec"] = str(fifo)
        s["timeout_s"] = HANG_BUDGET_S if fault == "hang" else 60
        trigger = _reader_waits(fifo) if fault == "SIGTERM" else None
    elif fault == "target down":  # slo reads files only: the fault cannot touch it, and the cell proves that
        env, expect = {"READINESS_BASE_URL": lab.addresses["closed"]}, "pass"

    def prepare(cell: Path) -> None:
        if fault in written:
            (cell / "alerts.yml").write_text(written[fault])
        elif fault in ("hang", "SIGTERM"):
            os.mkfifo(fifo)  # nobody writes it: reading it blocks

    return Plan("slo", fault, s, expect, env, trigger=trigger, prepare=prepare)


def _reader_waits(fifo: Path) -> Callable[[], bool]:
    """True once a reader waits on the FIFO (a writer can then open it without blocking); the writer stays open."""
    def waits() -> bool:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            return False
        closer = threading.Timer(30, os.close, (fd,))  # closing now would hand the reader an end of file
        closer.daemon = True  # never keeps pytest waiting
        closer.start()
        return True
    return waits


PLANNERS: dict[str, Callable[[Lab, str, Path, dict[str, Any]], Plan]] = {
    "coverage": coverage, "openapi": openapi, "zap": zap, "audit": audit, "k6": k6, "explain": explain,
    "dashboards": dashboards, "schema": schema, "docs": docs, "api": api, "slo": slo,
}

