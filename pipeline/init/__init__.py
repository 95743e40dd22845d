"""``readiness init``: a starter ``configs/readiness.yaml`` for a repository, from what its files say.

``inspect`` reads the repository (manifests, lock files, migrations, specs, monitoring files)
into ``Facts``; ``render`` writes the config text from them, with a comment per choice and a
``TODO`` wherever it cannot know. A TODO never makes a check pass: it leaves a key out (the
check is then an ``error`` that names it) or puts an obviously unrunnable value in its place.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.init.inspect import Facts, inspect
from pipeline.init.k6_skeleton import read_spec, skeleton
from pipeline.init.render import render

SKELETON = "configs/k6/load.js"  # written from the OpenAPI spec when the repository has no k6 script

__all__ = ["Facts", "InitError", "inspect", "render", "write_config"]


class InitError(Exception):
    """The starter config cannot be written (it exists and --force was not given)."""


def write_config(repo: Path, output: Path, *, force: bool = False) -> tuple[Path, int]:
    """Inspect ``repo`` and write the starter config to ``output``; returns the path and its TODO count.

    Without a k6 script but with an OpenAPI file, a script skeleton is written too (never over one).
    """
    if output.exists() and not force:
        raise InitError(f"{output} exists; readiness init never overwrites a config without --force")
    facts = inspect(repo)
    spec = read_spec(repo / facts.openapi) if facts.openapi and not facts.k6_scripts else None
    script = repo / SKELETON
    if spec is not None and not script.exists():  # not even with --force: that is the config's
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(skeleton(spec), encoding="utf-8")
        facts.k6_scripts.append(SKELETON)
    text = render(facts)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    return output, text.count("TODO")
