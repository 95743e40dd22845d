"""The ``readiness`` command: wires config, runner, verdict and reporters; maps errors to exit codes.

Exit codes: 0 ready, 1 not_ready, 2 incomplete (``check``: 0 pass/waived, 1 fail,
2 error/skipped), 3 usage or configuration error, 70 a defect in the gate (traceback in
REPORTS_DIR/crash-*.log), 141 the reader closed the pipe. No policy lives here.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from pipeline import __version__
from pipeline.cli_parser import EXIT_USAGE, build_parser
from pipeline.interrupts import Signals
from pipeline.redact import redact, register_environment, terminal_safe

if TYPE_CHECKING:
    from pipeline.config import Config
    from pipeline.model import CheckResult
    from pipeline.progress import View
    from pipeline.target import Target

# Every module below the CLI is imported by the command that needs it, not here: `readiness --help`
# loads no check, no database driver, no HTTP client, no schema validator (tests/test_cli.py).
__all__ = ["EXIT_CLOSED_PIPE", "EXIT_CRASH", "EXIT_USAGE", "build_parser", "main"]
# A defect in the gate (an exception nothing else handled): never 0-3, which carry the verdict.
EXIT_CRASH = 70
# The reader of our output went away (`readiness checks | head -1`): what a shell reports for SIGPIPE.
EXIT_CLOSED_PIPE = 141
# Commands ended by Ctrl-C or SIGTERM in this process: a batch ends after one (pipeline.batch).
_INTERRUPTED = Signals()
# Errors that mean "fix your input" (exit 3), named by module so matching them imports nothing.
_USAGE_ERRORS = {"pipeline.config.ConfigError": "configuration error:\n", "pipeline.signoff.SignoffError": "",
                 "pipeline.checks.registry.RegistrationError": ""}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    register_environment()  # secrets in the environment are masked from the first line printed
    args = build_parser().parse_args(argv)
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        _INTERRUPTED.count += 1
        _say("readiness: interrupted; the results written so far are kept.")
        return 2
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_CLOSED_PIPE
    except Exception as exc:  # one way out: a defect must never exit 0-3 (a verdict or "fix your input")
        usage = _usage_error(exc)
        if usage is not None:
            _say(f"readiness: {usage}{exc}")
            return EXIT_USAGE
        _say(f"readiness: internal error, a defect in the gate ({_cause(exc)}); "
             f"the traceback is in {crash_log(exc, args)}; please report it")
        return EXIT_CRASH
    finally:
        if "pipeline.proc" in sys.modules:  # a tool a check thread started late must not outlive the gate
            sys.modules["pipeline.proc"].kill_all_running()


def _usage_error(exc: BaseException) -> str | None:
    for cls in type(exc).__mro__:
        prefix = _USAGE_ERRORS.get(f"{cls.__module__}.{cls.__qualname__}")
        if prefix is not None:
            return prefix
    return None


def _cause(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def crash_log(exc: BaseException, args: argparse.Namespace) -> Path:
    """Write the traceback of ``exc`` (secrets masked) under the reports folder; its path."""
    folder = getattr(args, "reports_dir", None) or Path("reports")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    text = redact(f"readiness {__version__} {' '.join(sys.argv[1:])}\n" + "".join(traceback.format_exception(exc)))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"crash-{stamp}.log"
        path.write_text(text)
    except OSError:  # the reports folder cannot be written: a temporary file still keeps the traceback
        import tempfile

        with tempfile.NamedTemporaryFile("w", prefix="readiness-crash-", suffix=".log", delete=False) as f:
            f.write(text)
        path = Path(f.name)
    return path


def _silence_stdout() -> None:
    # Python flushes stdout again at exit; pointing it at /dev/null keeps that flush from raising.
    with contextlib.suppress(OSError, ValueError):  # a stdout without a file descriptor (in-process callers)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _verbosity(args: argparse.Namespace) -> int:
    return int(getattr(args, "verbose", 0)) - int(getattr(args, "quiet", 0))


def _view(args: argparse.Namespace) -> View:
    from pipeline import progress

    return progress.view(_verbosity(args))


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
    if args.command == "batch":
        return cmd_batch(args.reply_fd)
    if args.command == "docs":
        return cmd_docs(args)
    if args.command == "verdict":
        config = _verdict_config(args)
        service = args.service or (_service_name(config) if config else None)
        return cmd_verdict(args.results or [args.reports_dir / "results"], args.reports_dir, service,
                           quiet=_verbosity(args) < 0, release=(config, args.baseline, args.history))
    from pipeline import signoff

    if args.command == "signoff":
        return signoff.write_signoff(args.reports_dir, args.release, args.approver, args.config,
                                     args.results or [args.reports_dir / "results"], git_commit(), args.signing_key)
    return signoff.verify_signoff(args.file, args.public_key)


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM (CI cancelling a job) takes the same clean-up path as Ctrl-C.
    raise KeyboardInterrupt


def cmd_run(args: argparse.Namespace) -> int:
    """``readiness run``: every (or every --only) check in order, then the verdict.

    However the run ends (done, Ctrl-C, SIGTERM, a defect in the gate), the verdict of
    what ran is written; an interrupted run's verdict is never ``ready``.
    """
    from pipeline.gate import load_config
    from pipeline.interrupts import deferred_signals

    config = load_config(args.config, args.profile)
    selected = _selected(args.only)
    clear_previous_run(args.reports_dir)
    interrupted = None
    try:
        config = _run_checks(args, config, selected)
    except KeyboardInterrupt:
        interrupted = "The run was interrupted (Ctrl-C or SIGTERM) before every check had finished."
        _say("readiness: interrupted; writing the verdict of what ran.")
    except BrokenPipeError:  # `readiness run | head -3`: the reader left; the verdict of what ran is still written
        _silence_stdout()
        interrupted = "The run's output was closed (the reader of the pipe went away) before every check had finished."
    except Exception as exc:
        interrupted = "The run stopped early: the gate itself crashed (a defect; please report it)."
        _say(f"readiness: internal error, a defect in the gate ({_cause(exc)}); the traceback is in "
             f"{crash_log(exc, args)}; writing the verdict of what ran.")
    # More signals now wait: the verdict of what ran is written whatever comes.
    with deferred_signals(reraise=False):
        return cmd_verdict([args.reports_dir / "results"], args.reports_dir, _service_name(config),
                           interrupted, quiet=_verbosity(args) < 0, release=(config, args.baseline, args.history))


def clear_previous_run(reports_dir: Path) -> None:
    """Remove the reports and results of an earlier run, so none of them can pass for this run's."""
    import shutil

    from pipeline.checks.interface import INGESTED_DIR
    from pipeline.reporters import REPORTS

    for name in REPORTS:
        (reports_dir / name).unlink(missing_ok=True)
    shutil.rmtree(reports_dir / "results", ignore_errors=True)
    shutil.rmtree(reports_dir / INGESTED_DIR, ignore_errors=True)


def run_check(name: str, config: Config, reports_dir: Path, project_dir: Path, console: Any = None,
              target_error: str | None = None) -> CheckResult:
    """``pipeline.runner.run_check``, imported when a check first runs."""
    from pipeline import runner

    return runner.run_check(name, config, reports_dir, project_dir, console=console, target_error=target_error)


def _owned_target(stack: contextlib.ExitStack, args: argparse.Namespace, config: Config,
                  selected: list[str]) -> tuple[Config, str | None]:
    """Start the target on ``stack`` if the gate owns it and a selected check needs it.

    Returns the config reloaded with the target's variables (the settings refer to
    ${READINESS_BASE_URL} and friends), and why the target could not start, if it could not.
    """
    from pipeline import target
    from pipeline.gate import load_config, target_checks

    start = target.start_settings(config, target_checks(config, selected))
    if start is None:
        return config, None
    try:
        started = stack.enter_context(target.running_target(
            start, Path.cwd(), args.reports_dir / "evidence", console=sys.stderr))
    except target.TargetError as exc:
        error = redact(str(exc))
        _say(f"readiness: the service under test could not be started: {error}")
        return config, error
    os.environ.update(started.env)
    return load_config(args.config, args.profile), None


def _run_checks(args: argparse.Namespace, config: Config, selected: list[str]) -> Config:
    """Start the target if a selected check needs it, run the checks; returns the config they ran with."""
    from pipeline.progress import run_check_shown

    shown = _view(args)
    with contextlib.ExitStack() as stack:
        config, target_error = _owned_target(stack, args, config, selected)
        for index, name in enumerate(selected, 1):
            def attempt(tools: Any, name: str = name, config: Config = config, error: str | None = target_error
                        ) -> CheckResult:
                return run_check(name, config, args.reports_dir, Path.cwd(), console=tools, target_error=error)

            run_check_shown(name, attempt, shown, (index, len(selected)))
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
    import json

    from pipeline.checks.registry import registry

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

    For runners that start a ``readiness check`` process per check (the Nox sessions use
    ``readiness batch``, which holds the target itself): the first stdout line is a JSON
    object with the environment the checks need, or with ``READINESS_TARGET_ERROR`` when
    the target could not start. Closing stdin (the caller exiting, however it exits),
    SIGTERM or Ctrl-C stops everything.
    """
    import json

    with contextlib.ExitStack() as stack:
        env, _ = start_target(args, stack)
        print(json.dumps(env), flush=True)
        if "READINESS_TARGET_ERROR" in env:
            return 2
        if env:
            sys.stdin.read()  # until the caller closes the pipe
    return 0


def start_target(args: argparse.Namespace, stack: contextlib.ExitStack) -> tuple[dict[str, str], Target | None]:
    """Start the service under test on ``stack`` if the config owns one: the variables the checks need, and it.

    Empty (and None) when there is nothing to start; ``{"READINESS_TARGET_ERROR": why}`` when it could not start.
    """
    from pipeline import target
    from pipeline.checks.registry import registry
    from pipeline.gate import load_config, target_checks

    config = load_config(args.config, args.profile)
    start = target.start_settings(config, target_checks(config, registry().names()))
    if start is None:
        return {}, None
    try:
        started = stack.enter_context(target.running_target(start, Path.cwd(), args.reports_dir / "evidence",
                                                            console=sys.stderr))
    except target.TargetError as exc:
        return {"READINESS_TARGET_ERROR": redact(str(exc))}, None
    return dict(started.env), started


def cmd_batch(reply_fd: int) -> int:
    """``readiness batch``: the commands read from stdin run in this one process (see pipeline.batch)."""
    from pipeline import batch, target  # noqa: F401  (imported here, once, so no command's time holds it)
    from pipeline.gate import config_schema

    config_schema()  # every command loads a config: the checks imported and their schema composed, once

    def start(argv: list[str], stack: contextlib.ExitStack) -> tuple[dict[str, str], Target | None]:
        return start_target(build_parser().parse_args(argv), stack)

    with open(reply_fd, "w", encoding="utf-8", closefd=False) as replies:
        return batch.serve(sys.stdin, replies, main, start, interrupted=lambda: _INTERRUPTED.count > 0)


def cmd_docs(args: argparse.Namespace) -> int:
    """``readiness docs --write``: draft the API and database documents from the live facts.

    The database is checks.docs.dsn or READINESS_DATABASE_URL; when neither is set and the
    gate owns the target, the target is started (migrated) for the time it takes.
    """
    from pipeline import target
    from pipeline.checks.docs.draft import write_drafts
    from pipeline.checks.docs.settings import DocsSettings
    from pipeline.gate import check_settings, load_config

    config = load_config(args.config, args.profile)
    settings = check_settings(config, "docs")
    assert isinstance(settings, DocsSettings)
    if not settings.spec:
        _say("readiness docs: checks.docs.spec is empty: name the OpenAPI file the API document describes")
        return EXIT_USAGE
    dsn = settings.dsn or os.environ.get("READINESS_DATABASE_URL")
    start = None if dsn else target.start_settings(config, ["docs"])
    with contextlib.ExitStack() as stack:
        if start is not None:
            started = stack.enter_context(target.running_target(start, Path.cwd(), args.reports_dir / "evidence",
                                                                console=sys.stderr))
            dsn = started.env.get("READINESS_DATABASE_URL")
        if not dsn:
            _say("readiness docs: no database: set checks.docs.dsn or READINESS_DATABASE_URL, or service.start")
            return EXIT_USAGE
        try:
            written = write_drafts(Path(settings.documents.api), Path(settings.documents.database),
                                   Path(settings.spec), dsn, force=args.force)
        except FileExistsError as exc:
            _say(f"readiness docs: {exc}")
            return EXIT_USAGE
    for path in written:
        print(f"wrote {path} (complete the TODO sections, then run: readiness check docs)")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """``readiness check NAME``: one check, its result file, its exit code."""
    from pipeline.checks.registry import registry
    from pipeline.gate import load_config
    from pipeline.progress import run_check_shown
    from pipeline.reporters import console

    known = registry().names()
    if args.name not in known:
        _say(f"readiness check: error: argument NAME: invalid choice: {args.name!r} (choose from {', '.join(known)})")
        return EXIT_USAGE
    config = load_config(args.config, args.profile)
    # Set by the Nox sessions when `readiness target` could not start the service.
    error = os.environ.get("READINESS_TARGET_ERROR") or None
    with contextlib.ExitStack() as stack:
        # Alone (not under `readiness target`, which hands READINESS_BASE_URL or the error), the check
        # starts the target the gate owns when it needs it: a served spec, a suite's database.
        if error is None and not os.environ.get("READINESS_BASE_URL"):
            config, error = _owned_target(stack, args, config, [args.name])

        def attempt(tools: Any) -> CheckResult:
            return run_check(args.name, config, args.reports_dir, Path.cwd(), console=tools, target_error=error)

        result = run_check_shown(args.name, attempt, _view(args))
    if _verbosity(args) >= 0:
        for line in console.reason_lines(result):
            print(line)
    return result.status.exit_code


def cmd_verdict(results: list[Path], reports_dir: Path, service: str | None,
                interrupted: str | None = None, quiet: bool = False,
                release: tuple[Config | None, Path | None, Path | None] = (None, None, None)) -> int:
    """``readiness verdict``: aggregate, compare with the baseline (if any), write every report, print the verdict."""
    from pipeline import reporters
    from pipeline.model import now_utc
    from pipeline.release import with_release
    from pipeline.reporters import console
    from pipeline.results import gather, held_to_settings
    from pipeline.settings_digest import expected_digests
    from pipeline.verdict import decide

    now = now_utc()
    loaded = gather((d for d in results if d.is_dir()), now)
    warnings = [f"results folder {d} does not exist." for d in results if not d.is_dir()]
    for warning in warnings:
        _say(f"readiness: warning: {warning}")
    checked = held_to_settings(loaded.results, expected_digests(release[0]) if release[0] is not None else None)
    report = decide(checked, loaded.merges, warnings=(*loaded.warnings, *warnings),
                    interrupted=interrupted, environment=environment(service), generated_at=now)
    report = with_release(report, *release)
    written = reporters.write_reports(report, reports_dir)
    for name, why in written.failed.items():
        _say(f"readiness: the report {reports_dir / name} could not be written: {why}")
    lines = console.verdict_lines(written.report, sys.stdout)
    for line in lines[:1] if quiet else lines:
        print(line)
    if not quiet:
        print(f"Reports: {reports_dir / 'readiness.html'}")
    return written.report.verdict.exit_code


def environment(service: str | None = None) -> dict[str, Any]:
    """Where the verdict was computed: gate version, Python, platform, host, git commit (and service)."""
    import platform
    import socket

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
    from pipeline import proc
    from pipeline.errors import CheckError

    try:
        code, out, _ = proc.run_captured(["git", "rev-parse", "HEAD"], 10)
    except CheckError:
        return None
    return out.strip() or None if code == 0 else None


def _selected(only: str | None) -> list[str]:
    from pipeline.checks.registry import registry
    from pipeline.config import ConfigError

    if not only:
        return list(registry().names())
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in registry().names()]
    if unknown:
        raise ConfigError(f"--only: unknown check {', '.join(unknown)} "
                          f"(known: {', '.join(registry().names())})")
    return [n for n in registry().names() if n in names]


def _verdict_config(args: argparse.Namespace) -> Config | None:
    """The config ``readiness verdict`` records the policy of: --config, else the one discovery finds, if any."""
    from pipeline.config import ConfigError
    from pipeline.gate import load_config

    if args.config is not None:
        return load_config(args.config, args.profile)
    try:
        return load_config(None, args.profile)
    except ConfigError as exc:  # the verdict needs no config; a comparison with a baseline then cannot be ready
        _say(f"readiness: warning: the policy is not recorded, no usable config was found:\n{exc}")
        return None


def _service_name(config: Config) -> str | None:
    name = config.service.get("name")
    return str(name) if name else None


def _say(message: str) -> None:
    """A message to stderr, secrets masked and terminal escapes of foreign text removed (newlines kept)."""
    print(terminal_safe(redact(message)), file=sys.stderr, flush=True)
