"""The JUnit XML reader of the coverage check: every test case and how it ended, streamed.

pytest, jest-junit, Surefire, go-junit-report... all write ``<testsuites>`` / ``<testsuite>``
with ``<testcase>`` inside, a ``<failure>``, ``<error>`` or ``<skipped>`` child saying how a
case ended. The file is walked with expat's handlers (``xmlsafe.stream_xml_file``): no tree
and no object per element, so 100,000 cases cost little more than reading the bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from pipeline.errors import ParseError
from pipeline.xmlsafe import stream_xml_file

# Real JUnit reports nest suites a few levels deep (Surefire, nested jest describes); far deeper is forged.
MAX_SUITE_DEPTH = 100
_SUITES = ("testsuites", "testsuite")
_FOLLOWED = frozenset((*_SUITES, "testcase"))
# A case's outcome: an error outranks a failure, which outranks a skip (Surefire's flaky reruns
# are other tags, so a case that passed on a rerun counts as passed, as Surefire itself says).
_RANK = {"error": 3, "failure": 2, "skipped": 1}
_OUTCOME = {"error": "error", "failure": "failed", "skipped": "skipped"}


class CaseOutcome(NamedTuple):
    """One test case and how it ended (a tuple: 100,000 of them are made in a blink)."""

    suite: str
    classname: str
    name: str
    outcome: str  # passed | failed | error | skipped
    message: str
    source: str


def read_junit(path: Path, source: str | None = None) -> tuple[CaseOutcome, ...]:
    """Every test case of a JUnit XML file (pytest, jest-junit, Surefire, go-junit-report...).

    Nested ``<testsuite>`` elements are walked; each case is counted once, under its
    innermost suite. Only suites and cases inside suites count: a suite inside another
    element (``<properties>``, a case) is not part of the report. ``source`` names the file
    in each outcome (default: ``path``).
    """
    walk = _JUnitWalk(path, str(path) if source is None else source)
    stream_xml_file(path, "JUnit XML report", walk.start, walk.end, walk.text)
    return tuple(walk.outcomes)


class _JUnitWalk:
    """Expat's handlers for a JUnit file: a stack of the open elements, one outcome per closed case."""

    def __init__(self, path: Path, source: str) -> None:
        self.path, self.source = path, source
        self.outcomes: list[CaseOutcome] = []
        # Per open element: the suite path it opens (None: an element the walk does not follow).
        self._open: list[str | None] = []
        self._case: dict[str, str] | None = None
        self._case_depth = 0
        self._result: tuple[str, str] | None = None  # (tag, message) of the case's worst result so far
        self._body: list[str] | None = None  # the text of the result element being read

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        """An element opens: a suite, a case, or a result of the case being read."""
        if not self._open:
            if tag not in _SUITES:
                raise ParseError(self.path, f"root element <{tag}>", "not a JUnit XML report "
                                 "(expected <testsuites> or <testsuite>)")
            self._open.append(attrs.get("name", "") if tag == "testsuite" else "")
            return
        if self._case is not None:
            self._case_child(tag, attrs)
            self._open.append(None)
            return
        parent = self._open[-1]
        if parent is None or tag not in _FOLLOWED:
            self._open.append(None)
            return
        if tag == "testcase":
            self._case, self._case_depth, self._result = attrs, len(self._open), None
            self._open.append(parent)
            return
        if len(self._open) > MAX_SUITE_DEPTH:
            raise ParseError(self.path, f"<{tag} name=\"{attrs.get('name', '')[:80]}\">",
                             f"suites nested more than {MAX_SUITE_DEPTH} deep: not a genuine report")
        name = attrs.get("name", "") if tag == "testsuite" else ""
        self._open.append("/".join(p for p in (parent, name) if p))

    def _case_child(self, tag: str, attrs: dict[str, str]) -> None:
        """A direct child of the case that is worse than what it had: its message, else its text's first line."""
        if len(self._open) != self._case_depth + 1 or tag not in _RANK:
            return
        if self._result is None or _RANK[tag] > _RANK[self._result[0]]:
            self._result = (tag, attrs.get("message") or "")
            self._body = None if self._result[1] else []

    def end(self, tag: str) -> None:
        """An element closes; a case closing becomes an outcome."""
        self._open.pop()
        if tag == "testcase" and self._case is not None and len(self._open) == self._case_depth:
            case, result = self._case, self._result
            outcome, message = ("passed", "") if result is None else (_OUTCOME[result[0]], result[1])
            self.outcomes.append(CaseOutcome(self._open[-1] or "", case.get("classname", ""), case.get("name", ""),
                                             outcome, message, self.source))
            self._case = None
            return
        if self._body is not None and len(self._open) == self._case_depth + 1 and tag in _RANK:
            if self._result is not None and self._result[0] == tag and not self._result[1]:
                self._result = (tag, next(iter("".join(self._body).strip().splitlines()), ""))
            self._body = None

    def text(self, data: str) -> None:
        """Character data: kept only for the result whose message is its body."""
        if self._body is not None and len(self._open) == self._case_depth + 2:
            self._body.append(data)
