"""``python -m pipeline`` is the ``readiness`` command."""

import gc
from typing import NoReturn

from pipeline._cli import main


def run() -> NoReturn:
    """The console script: ``main``'s exit code, without the final garbage collection."""
    code = main()
    # At exit the interpreter would collect every cycle among the ~860 modules the checks import: 0.3 s of
    # each `readiness` process, for memory the OS takes back anyway. Every file is closed by now, and the
    # exit handlers still run (a tool left running is still killed).
    gc.freeze()
    raise SystemExit(code)


if __name__ == "__main__":
    run()
