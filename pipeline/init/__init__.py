"""``readiness init``: a starter ``configs/readiness.yaml`` for a repository, from what its files say.

``inspect`` reads the repository (manifests, lock files, migrations, specs, monitoring files)
into ``Facts``; ``render`` writes the config text from them, with a comment per choice and a
``TODO`` wherever it cannot know. A TODO never makes a check pass: it leaves a key out (the
check is then an ``error`` that names it) or puts an obviously unrunnable value in its place.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.init.inspect import Facts, inspect
from pipeline.init.render import render

__all__ = ["Facts", "InitError", "inspect", "render", "write_config"]


class InitError(Exception):
    """The starter config cannot be written (it exists and --force was not given)."""


def write_config(repo: Path, output: Path, *, force: bool = False) -> tuple[Path, int]:
    """Inspect ``repo`` and write the starter config to ``output``; returns the path and its TODO count."""
    if output.exists() and not force:
        raise InitError(f"{output} exists; readiness init never overwrites a config without --force")
    text = render(inspect(repo))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    return output, text.count("TODO")
