"""Coverage-guided fuzzing of the gate's parsers of foreign input with atheris (libFuzzer for Python).

    python fuzz/run.py list                              # the targets (fuzz/targets.py)
    python fuzz/run.py lcov -atheris_runs=200000         # one target; any libFuzzer option
    python fuzz/run.py lcov -max_total_time=300 CORPUS   # a corpus folder of your own (kept, grows)
    python fuzz/run.py all -max_total_time=60            # every target, one after the other

Each target starts from its real-shaped seeds (a temporary corpus unless you name a folder).
An input that makes a parser raise anything but the gate's typed errors (CheckError and its
family) is a crash: libFuzzer stops, prints the traceback and writes the input to
``crash-<sha1>`` in the current folder. Turn it into a regression test next to the parser.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import atheris  # after the path: the gate must be importable first

# Instrument the gate and the libraries that parse for it, so that new branches guide the search.
with atheris.instrument_imports(include=["pipeline", "fuzz", "yaml", "defusedxml", "junitparser",
                                         "prometheus_client", "openapi_spec_validator", "packaging"]):
    from fuzz.targets import BY_NAME, Target, only_typed_errors


def fuzz_one(target: Target, options: list[str]) -> None:
    """Run libFuzzer on ``target`` (does not return: libFuzzer exits the process)."""
    corpora = [option for option in options if not option.startswith("-")]
    if not corpora:  # libFuzzer writes what it finds into the first corpus folder: a temporary one
        folder = Path(tempfile.mkdtemp(prefix=f"readiness-fuzz-{target.name}-"))
        for index, seed in enumerate(target.seeds):
            (folder / f"seed-{index}").write_bytes(seed)
        options = [*options, str(folder)]
    atheris.Setup([sys.argv[0], *options], lambda data: only_typed_errors(target, data))
    atheris.Fuzz()


def main(argv: list[str]) -> int:
    """``list``, ``all`` or one target's name, then libFuzzer's options."""
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    name, options = argv[0], argv[1:]
    if name == "list":
        print("\n".join(BY_NAME))
        return 0
    if name == "all":
        failed = [each for each in BY_NAME
                  if subprocess.run([sys.executable, __file__, each, *options], check=False).returncode != 0]
        print(f"atheris: {len(BY_NAME) - len(failed)} of {len(BY_NAME)} targets clean"
              + (f"; crashed: {', '.join(failed)}" if failed else ""))
        return 1 if failed else 0
    if name not in BY_NAME:
        print(f"unknown target {name!r}; known: {', '.join(BY_NAME)}", file=sys.stderr)
        return 2
    fuzz_one(BY_NAME[name], options)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
