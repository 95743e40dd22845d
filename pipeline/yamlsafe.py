"""Load untrusted YAML safely: aliases may repeat parts of a document, not multiply it a millionfold.

A YAML alias refers to an anchored node instead of copying it, so ten lines can stand for
387 million values (nine lists of nine aliases, nine deep: an "alias bomb"). PyYAML builds
that as shared references in a moment, but whatever walks, validates or prints the result
(openapi-spec-validator, an error message quoting a value) expands it and runs for minutes
while eating memory. Foreign YAML (an OpenAPI spec, a Prometheus rule file, an OSV record)
is therefore composed first, its expanded size counted, and refused over a budget.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import ParseError

# Values aliases may add beyond the document's own nodes. A document without aliases has no
# limit but its size; a few anchors reused in a spec add thousands, a bomb hundreds of millions.
MAX_ALIAS_EXPANSION = 1_000_000


def load(text: str, source: Path | str, loader: Any = yaml.SafeLoader,
         max_expansion: int | None = None) -> Any:
    """The single YAML document in ``text`` (None when empty), built with ``loader``.

    Raises ParseError when aliases add more than ``max_expansion`` values (default
    MAX_ALIAS_EXPANSION) or an alias
    contains itself; yaml.YAMLError (not YAML) and RecursionError (nested too deeply) go
    to the caller.
    """
    parser = loader(text)
    try:
        node = parser.get_single_node()
        if node is None:
            return None
        if "*" in text:  # no alias without a '*'
            sizes: dict[int, int] = {}
            expanded = _expanded_size(node, source, sizes, set())
            if expanded - len(sizes) > (MAX_ALIAS_EXPANSION if max_expansion is None else max_expansion):
                raise ParseError(source, f"line {node.start_mark.line + 1}",
                                 f"YAML aliases expand it to {expanded:,} values from {len(sizes):,}; refused "
                                 "(an alias bomb?)", "A genuine document repeats parts, it does not multiply them.")
        return parser.construct_document(node)
    finally:
        parser.dispose()


def _expanded_size(node: yaml.Node, source: Path | str, sizes: dict[int, int], active: set[int]) -> int:
    """How many values ``node`` stands for once every alias is expanded (``sizes``: per distinct node)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in active:
        raise ParseError(source, f"line {node.start_mark.line + 1}", "a YAML alias refers to itself")
    active.add(key)
    children: list[yaml.Node] = []
    if isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    size = 1 + sum(_expanded_size(child, source, sizes, active) for child in children)
    active.discard(key)
    sizes[key] = size
    return size
