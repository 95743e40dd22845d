"""What the ``readiness`` command line accepts: commands, options, help texts, the exit-code epilog.

Built without importing a check or a library the commands use, so ``readiness --help`` is fast;
``readiness check NAME`` validates NAME against the registry when it runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NoReturn

from pipeline import __version__
from pipeline.redact import redact, terminal_safe

EXIT_USAGE = 3

EPILOG = """\
exit codes:
  0    ready (check: pass or waived; verify-signoff: intact)
  1    not_ready (check: fail; verify-signoff: tampered)
  2    incomplete: a check errored, was skipped or missing, or the run was interrupted
       (check: error or skipped)
  3    usage or configuration error; the message names the file, key and problem; nothing ran
  70   a defect in the gate itself: one line on stderr, the traceback in REPORTS_DIR/crash-*.log
  141  the reader of the output went away (readiness checks | head -1)

config: --config FILE, else $READINESS_CONFIG, else configs/readiness.yaml, else [tool.readiness]
in pyproject.toml. Profile: --profile, else $READINESS_PROFILE, else the config's profile:, else local.
NO_COLOR=1 turns colours off; FORCE_COLOR=1 turns them on when the output is not a terminal.

examples:
  readiness run                              every check in order, the verdict, all reports
  readiness run --profile release -q         the release profile; only the verdict is printed
  readiness check k6 --config ci/gate.yaml   one check; exit 0 pass, 1 fail, 2 error
  readiness verdict --results a/results --results b/results
  readiness signoff --release 1.4.0 --approver "Rita Ops"
  readiness checks --json                    the registry, as the Nox sessions read it
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(terminal_safe(redact(f"{self.prog}: error: {message}")), file=sys.stderr, flush=True)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of the contract (built without loading a check)."""
    parser = _Parser(prog="readiness", description="Readiness gate for backend services.", epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"readiness {__version__}",
                        help="print the gate's version and exit")
    _verbosity_args(parser, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    run = _command(sub, "run", "run the checks in order, then the verdict and all reports")
    _config_args(run)
    run.add_argument("--only", help="comma-separated checks to run (the others count as missing)")
    _release_args(run)

    check = _command(sub, "check", "run one check and write results/NAME.json")
    check.add_argument("name", metavar="NAME", help="the check to run (readiness checks lists them)")
    _config_args(check)

    init = _command(sub, "init", "write a starter config for a repository (never overwrites without --force)")
    init.add_argument("repo", nargs="?", type=Path, default=Path("."), help="the repository (default: here)")
    init.add_argument("--output", type=Path, default=None, help="default: REPO/configs/readiness.yaml")
    init.add_argument("--force", action="store_true", help="overwrite an existing config")

    target_cmd = _command(sub, "target", "start the service under test (service.start) until stdin closes")
    _config_args(target_cmd)

    batch = _command(sub, "batch", "run readiness commands read from stdin (JSON lines) in this one process")
    batch.add_argument("--reply-fd", type=int, required=True, metavar="FD",
                       help="the open file descriptor each command's exit code is written to, a JSON line each")

    verdict = _command(sub, "verdict", "aggregate result files and write all reports")
    verdict.add_argument("--results", action="append", type=Path, default=None,
                         help="a folder of result files (repeatable); default REPORTS_DIR/results")
    _config_args(verdict)
    verdict.add_argument("--service", default=None, help="service name shown in the reports")
    _release_args(verdict)

    sign = _command(sub, "signoff", "write the sign-off record for a release")
    sign.add_argument("--release", required=True, help="the release being signed off (names the record file)")
    sign.add_argument("--approver", required=True, help="who signs it off (recorded as written)")
    _reports_dir_arg(sign)
    sign.add_argument("--config", type=Path, default=None, help="the config the run used (its digest is recorded)")
    sign.add_argument("--results", action="append", type=Path, default=None,
                      help="the result folders the verdict was made from (repeatable); default REPORTS_DIR/results")
    sign.add_argument("--signing-key", type=Path, default=None,
                      help="Ed25519 private key (PEM or base64 seed) to sign with; default $READINESS_SIGNING_KEY")

    verify = _command(sub, "verify-signoff", "recompute every digest of a sign-off record")
    verify.add_argument("file", type=Path, metavar="FILE", help="the signoff-RELEASE.json to verify")
    verify.add_argument("--public-key", type=Path, action="append", default=[],
                        help="a trusted Ed25519 public key (PEM or base64; repeatable)")

    clean = _command(sub, "clean", "remove the verdict, reports and results of an earlier run")
    _reports_dir_arg(clean)

    docs = _command(sub, "docs", "draft the API and database documents from the spec and the migrated database")
    docs.add_argument("--write", action="store_true", required=True,
                      help="write the drafts to the docs check's document paths (checks.docs.documents)")
    docs.add_argument("--force", action="store_true", help="overwrite documents that exist")
    _config_args(docs)

    checks = _command(sub, "checks", "list the checks of this gate: order, needs, finding kinds")
    checks.add_argument("--json", action="store_true", help="machine-readable (what the Nox sessions read)")
    return parser


def _command(sub: Any, name: str, summary: str) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = sub.add_parser(name, help=summary, description=summary, epilog=EPILOG,
                                                      formatter_class=argparse.RawDescriptionHelpFormatter)
    _verbosity_args(command, argparse.SUPPRESS)
    return command


def _verbosity_args(parser: argparse.ArgumentParser, default: Any) -> None:
    # SUPPRESS: `readiness -v run` and `readiness run -v` both count, neither resets the other.
    parser.add_argument("-v", "--verbose", action="count", default=default,
                        help="more output: the tools' own output in full (repeatable)")
    parser.add_argument("-q", "--quiet", action="count", default=default,
                        help="less output: no progress lines and no tool output")


def _release_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", type=Path, default=None,
                        help="compare with a previous release: its reports folder, readiness.json or sign-off record")
    parser.add_argument("--history", type=Path, default=None,
                        help="a folder whose history.jsonl gets this run's verdict and key figures (for the trends)")


def _config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None,
                        help="config file (default: $READINESS_CONFIG, configs/readiness.yaml, "
                             "or [tool.readiness] in pyproject.toml)")
    parser.add_argument("--profile", default=None,
                        help="profile to apply: local, release or one under profiles: in the config "
                             "(default: $READINESS_PROFILE, else the config's profile:, else local)")
    _reports_dir_arg(parser)


def _reports_dir_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"),
                        help="where results, evidence and reports go (default: reports)")
