"""A Markdown document as the docs check reads it: sections, their text, tables and code blocks.

Parsed with markdown-it-py (CommonMark plus GitHub's tables), never with regexes: a heading is
what a Markdown renderer shows as a heading, a table row is a row. Text is the rendered text
(inline code's content, link text), so ``GET /orders`` in backticks reads as ``GET /orders``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token

_PARSER = MarkdownIt("commonmark").enable("table")


@dataclass(frozen=True)
class Row:
    """One table row: its cells' text and its line (1-based)."""

    cells: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Block:
    """A fenced code block: its language, its text and the line of its opening fence (1-based)."""

    language: str
    text: str
    line: int


@dataclass
class Section:
    """A heading and everything up to the next heading of the same or a higher level."""

    title: str
    level: int
    line: int
    texts: list[tuple[str, int]] = field(default_factory=list)  # paragraphs and list items, with lines
    tables: list[list[Row]] = field(default_factory=list)  # each table: header row first
    blocks: list[Block] = field(default_factory=list)
    children: list[Section] = field(default_factory=list)

    def walk(self) -> list[Section]:
        """This section and every section under it, in document order."""
        return [self, *(s for child in self.children for s in child.walk())]

    def has_content(self) -> bool:
        """Whether anything but headings is in it (a heading with nothing under it is empty)."""
        return any(s.texts or s.tables or s.blocks for s in self.walk())

    def text(self) -> str:
        """All its text: paragraphs, list items, table cells and code, one line each."""
        parts = []
        for s in self.walk():
            parts += [s.title, *(t for t, _ in s.texts), *(" | ".join(r.cells) for table in s.tables for r in table),
                      *(b.text for b in s.blocks)]
        return "\n".join(parts)

    def rows(self) -> list[Row]:
        """The body rows (not the header) of every table in it."""
        return [row for s in self.walk() for table in s.tables for row in table[1:]]


@dataclass
class Document:
    """A parsed document: a root section (level 0, the text before any heading) holding the rest."""

    root: Section

    def find(self, name: str) -> Section | None:
        """The first section whose title contains ``name`` as whole words (case-insensitive), or None.

        Whole words (a plural too): "SLA" finds "SLA commitments", "Rate limit" finds "Rate limits",
        never "Translations".
        """
        wanted = re.compile(rf"(?<!\w){re.escape(name)}s?(?!\w)", re.IGNORECASE)
        return next((s for s in self.root.walk()[1:] if wanted.search(s.title)), None)

    def blocks(self, language: str) -> list[Block]:
        """Every fenced block of ``language`` (``mermaid``) in the document."""
        return [b for s in self.root.walk() for b in s.blocks if b.language == language]


def parse(text: str) -> Document:
    """The document's section tree."""
    root = Section("", 0, 1)
    stack = [root]
    tokens = _PARSER.parse(text)
    index = 0
    while index < len(tokens):
        token = tokens[index]
        line = (token.map[0] + 1) if token.map else stack[-1].line
        if token.type == "heading_open":
            level = int(token.tag[1:])
            while stack[-1].level >= level:
                stack.pop()
            section = Section(_inline_text(tokens[index + 1]), level, line)
            stack[-1].children.append(section)
            stack.append(section)
            index += 3
            continue
        if token.type == "table_open":
            end = _closing(tokens, index, "table_close")
            stack[-1].tables.append(_table(tokens[index:end]))
            index = end + 1
            continue
        if token.type in ("fence", "code_block"):
            stack[-1].blocks.append(Block(token.info.strip().split(" ")[0].casefold(), token.content, line))
        elif token.type == "inline":
            stack[-1].texts.append((_inline_text(token), line))
        index += 1
    return Document(root)


def _closing(tokens: list[Token], start: int, kind: str) -> int:
    return next(i for i in range(start, len(tokens)) if tokens[i].type == kind)


def _table(tokens: list[Token]) -> list[Row]:
    rows: list[Row] = []
    cells: list[str] = []
    line = 0
    for token in tokens:
        if token.type == "tr_open":
            cells, line = [], (token.map[0] + 1) if token.map else 0
        elif token.type == "inline":
            cells.append(_inline_text(token))
        elif token.type == "tr_close":
            rows.append(Row(tuple(cells), line))
    return rows


def _inline_text(token: Token) -> str:
    """What a reader sees of an inline run: text and code spans, without the markup."""
    children = token.children or []
    shown = "".join(c.content if c.type in ("text", "code_inline") else " " if c.type.endswith("break") else ""
                    for c in children)
    breaks = " ".join(shown.split()) if children else token.content
    return breaks.strip()
