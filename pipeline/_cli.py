"""The ``readiness`` command: wires config, runner, verdict and reporters; maps errors to exit codes.

Exit codes: 0 ready, 1 not_ready, 2 incomplete (``check``: 0 pass/waived, 1 fail,
2 error/skipped), 3 usage or configuration error. No policy lives here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from pipeline import __version__, proc, reporters, signoff, target
from pipeline.checks.interface import INGESTED_DIR
from pipeline.checks.registry import RegistrationError, registry
from pipeline.config import Config, ConfigError
from pipeline.errors import CheckError
from pipeline.gate import load_config, target_checks
from pipeline.interrupts import deferred_signals
from pipeline.model import now_utc
from pipeline.redact import redact, register_environment, terminal_safe
from pipeline.reporters import console
from pipeline.results import gather
from pipeline.runner import run_check
from pipeline.verdict import decide

EXIT_USAGE = 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        _say(f"readiness: error: {message}")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of the contract."""
    parser = _Parser(prog="readiness", description="Readiness gate for backend services.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run the checks in order, then the verdict and all reports")
    _config_args(run)
    run.add_argument("--only", help="comma-separated checks to run (the others count as missing)")

    check = sub.add_parser("check", help="run one check and write results/NAME.json")
    check.add_argument("name", choices=registry().names())
    _config_args(check, profile=True)

    init = sub.add_parser("init", help="write a starter config for a repository (never overwrites without --force)")
    init.add_argument("repo", nargs="?", type=Path, default=Path("."), help="the repository (default: here)")
    init.add_argument("--output", type=Path, default=None, help="default: REPO/configs/readiness.yaml")
    init.add_argument("--force", action="store_true", help="overwrite an existing config")

    target_cmd = sub.add_parser("target", help="start the service under test (service.start) until stdin closes")
    _config_args(target_cmd)

    verdict = sub.add_parser("verdict", help="aggregate result files and write all reports")
    verdict.add_argument("--results", action="append", type=Path, default=None,
                         help="a folder of result files (repeatable); default REPORTS_DIR/results")
    verdict.add_argument("--reports-dir", type=Path, default=Path("reports"))
    verdict.add_argument("--service", default=None, help="service name shown in the reports")

    sign = sub.add_parser("signoff", help="write the sign-off record for a release")
    sign.add_argument("--release", required=True)
    sign.add_argument("--approver", required=True)
    sign.add_argument("--reports-dir", type=Path, default=Path("reports"))
    sign.add_argument("--config", type=Path, default=None)
    sign.add_argument("--results", action="append", type=Path, default=None,
                      help="the result folders the verdict was made from (repeatable); default REPORTS_DIR/results")

    verify = sub.add_parser("verify-signoff", help="recompute every digest of a sign-off record")
    verify.add_argument("file", type=Path)

    clean = sub.add_parser("clean", help="remove the verdict, reports and results of an earlier run")
    clean.add_argument("--reports-dir", type=Path, default=Path("reports"))

    checks = sub.add_parser("checks", help="list the checks of this gate: order, needs, finding kinds")
    checks.add_argument("--json", action="store_true", help="machine-readable (what the Nox sessions read)")
    return parser


def _config_args(parser: argparse.ArgumentParser, profile: bool = True) -> None:
    parser.add_argument("--config", type=Path, default=None,
                        help="config file (default configs/readiness.yaml)")
    if profile:
        parser.add_argument("--profile", choices=("local", "release"), default=None)
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    register_environment()  # secrets in the environment are masked from the first line printed
    try:
        parser = build_parser()  # the check names come from the registry
    except RegistrationError as exc:
        _say(f"readiness: {exc}")
        return EXIT_USAGE
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        _say(f"readiness: configuration error:\n{exc}")
        return EXIT_USAGE
    except signoff.SignoffError as exc:
        _say(f"readiness: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _say("readiness: interrupted; the results written so far are kept.")
        return 2
    except Exception:  # one way out: a defect must never exit 0 or 1 (ready / not_ready)
        _say(f"readiness: internal error (a defect in the gate; please report it):\n{traceback.format_exc()}")
        return 2
    finally:
        proc.kill_all_running()  # a tool a check thread started late must not outlive the gate


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "init":
        return cmd_init(args.repo, args.output, args.force)
    if args.command == "checks":
        return cmd_checks(args.json)
    if args.command == "clean":
        clear_previous_run(args.reports_dir)
        return 0
    if args.command == "run":
        return cmd_run(args)
    if args.command == "check":
        return cmd_check(args)
    if args.command == "target":
        return cmd_target(args)
    if args.command == "verdict":
        return cmd_verdict(args.results or [args.reports_dir / "results"], args.reports_dir, args.service)
    if args.command == "signoff":
        return signoff.write_signoff(args.reports_dir, args.release, args.approver, args.config,
                                     args.results or [args.reports_dir / "results"], git_commit())
    return signoff.verify_signoff(args.file)


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM (CI cancelling a job) takes the same clean-up path as Ctrl-C.
    raise KeyboardInterrupt


def cmd_run(args: argparse.Namespace) -> int:
    """``readiness run``: every (or every --only) check in order, then the verdict.

    However the run ends (done, Ctrl-C, SIGTERM, a defect in the gate), the verdict of
    what ran is written; an interrupted run's verdict is never ``ready``.
    """
    config = load_config(args.config, args.profile)
    selected = _selected(args.only)
    clear_previous_run(args.reports_dir)
    interrupted = None
    try:
        config = _run_checks(args, config, selected)
    except KeyboardInterrupt:
        interrupted = "The run was interrupted (Ctrl-C or SIGTERM) before every check had finished."
        _say("readiness: interrupted; writing the verdict of what ran.")
    except Exception:
        interrupted = "The run stopped early: the gate itself crashed (a defect; please report it)."
        _say(f"readiness: internal error; writing the verdict of what ran:\n{traceback.format_exc()}")
    # More signals now wait: the verdict of what ran is written whatever comes.
    with deferred_signals(reraise=False):
        return cmd_verdict([args.reports_dir / "results"], args.reports_dir, _service_name(config),
                           interrupted)


def clear_previous_run(reports_dir: Path) -> None:
    """Remove the reports and results of an earlier run, so none of them can pass for this run's."""
    for name in reporters.REPORTS:
        (reports_dir / name).unlink(missing_ok=True)
    shutil.rmtree(reports_dir / "results", ignore_errors=True)
    shutil.rmtree(reports_dir / INGESTED_DIR, ignore_errors=True)


def _run_checks(args: argparse.Namespace, config: Config, selected: list[str]) -> Config:
    """Start the target if a selected check needs it, run the checks; returns the config they ran with."""
    start = target.start_settings(config, target_checks(config, selected))
    with contextlib.ExitStack() as stack:
        target_error = None
        if start is not None:
            try:
                started = stack.enter_context(target.running_target(
                    start, Path.cwd(), args.reports_dir / "evidence", console=sys.stderr))
                os.environ.update(started.env)
                # Reload: the check settings refer to ${READINESS_BASE_URL} and friends.
                config = load_config(args.config, args.profile)
            except target.TargetError as exc:
                target_error = redact(str(exc))
                _say(f"readiness: the service under test could not be started: {target_error}")
        for name in selected:
            result = run_check(name, config, args.reports_dir, Path.cwd(), console=sys.stderr,
                               target_error=target_error)
            print(console.check_line(result, sys.stdout), flush=True)
    return config


def cmd_init(repo: Path, output: Path | None, force: bool) -> int:
    """``readiness init``: the starter config, and how many TODOs it holds (exit 3 if it would overwrite)."""
    from pipeline.init import InitError, write_config

    try:
        written, todos = write_config(repo, output or repo / "configs" / "readiness.yaml", force=force)
    except InitError as exc:
        _say(f"readiness: {exc}")
        return EXIT_USAGE
    print(f"Wrote {written} ({todos} TODO{'s' if todos != 1 else ''} to resolve; see docs/gate-your-service.md).")
    return 0


def cmd_checks(as_json: bool) -> int:
    """``readiness checks``: the registry's declarations, in run order."""
    described = registry().describe()
    if as_json:
        print(json.dumps(described, indent=2))
        return 0
    for check in described:
        needs = ", ".join(n for n, on in (("service", check["needs_target"]), ("SARIF", check["security"])) if on)
        print(f"{check['order']:>4}  {check['name']:<12} {check['title']}" + (f"  [{needs}]" if needs else ""))
        for kind, meaning in check["findings"].items():
            print(f"        {kind}: {meaning['summary']} -> {meaning['remediation']}")
    return 0


def cmd_target(args: argparse.Namespace) -> int:
    """``readiness target``: start the service under test and keep it up until stdin closes.

    For runners that call ``readiness check`` once per check (the Nox sessions): the
    first stdout line is a JSON object with the environment the checks need, or with
    ``READINESS_TARGET_ERROR`` when the target could not start. Closing stdin (the
    caller exiting, however it exits), SIGTERM or Ctrl-C stops everything.
    """
    config = load_config(args.config, args.profile)
    start = target.start_settings(config, target_checks(config, registry().names()))
    if start is None:
        print(json.dumps({}), flush=True)
        return 0
    try:
        with target.running_target(start, Path.cwd(), args.reports_dir / "evidence", console=sys.stderr) as t:
            print(json.dumps(t.env), flush=True)
            sys.stdin.read()  # until the caller closes the pipe
    except target.TargetError as exc:
        print(json.dumps({"READINESS_TARGET_ERROR": redact(str(exc))}), flush=True)
        return 2
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """``readiness check NAME``: one check, its result file, its exit code."""
    config = load_config(args.config, args.profile)
    # Set by the Nox sessions when `readiness target` could not start the service.
    result = run_check(args.name, config, args.reports_dir, Path.cwd(), console=sys.stderr,
                       target_error=os.environ.get("READINESS_TARGET_ERROR") or None)
    print(console.check_line(result, sys.stdout))
    for line in console.reason_lines(result):
        print(line)
    return result.status.exit_code


def cmd_verdict(results: list[Path], reports_dir: Path, service: str | None,
                interrupted: str | None = None) -> int:
    """``readiness verdict``: aggregate, write every report, print the verdict."""
    now = now_utc()
    loaded = gather((d for d in results if d.is_dir()), now)
    warnings = [f"results folder {d} does not exist." for d in results if not d.is_dir()]
    for warning in warnings:
        _say(f"readiness: warning: {warning}")
    report = decide(loaded.results, loaded.merges, warnings=(*loaded.warnings, *warnings),
                    interrupted=interrupted, environment=environment(service), generated_at=now)
    written = reporters.write_reports(report, reports_dir)
    for name, why in written.failed.items():
        _say(f"readiness: the report {reports_dir / name} could not be written: {why}")
    for line in console.verdict_lines(written.report, sys.stdout):
        print(line)
    print(f"Reports: {reports_dir / 'readiness.html'}")
    return written.report.verdict.exit_code


def environment(service: str | None = None) -> dict[str, Any]:
    """Where the verdict was computed: gate version, Python, platform, host, git commit (and service)."""
    env: dict[str, Any] = {
        "gate_version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "git_commit": git_commit(),
    }
    if service:
        env["service"] = service
    return env


def git_commit() -> str | None:
    """The current git commit, if the working folder is a git checkout."""
    try:
        code, out, _ = proc.run_captured(["git", "rev-parse", "HEAD"], 10)
    except CheckError:
        return None
    return out.strip() or None if code == 0 else None


def _selected(only: str | None) -> list[str]:
    if not only:
        return list(registry().names())
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in registry().names()]
    if unknown:
        raise ConfigError(f"--only: unknown check {', '.join(unknown)} "
                          f"(known: {', '.join(registry().names())})")
    return [n for n in registry().names() if n in names]


def _service_name(config: Config) -> str | None:
    name = config.service.get("name")
    return str(name) if name else None


def _say(message: str) -> None:
    """A message to stderr, secrets masked and terminal escapes of foreign text removed (newlines kept)."""
    print(terminal_safe(redact(message)), file=sys.stderr, flush=True)
