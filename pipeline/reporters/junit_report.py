"""``readiness.junit.xml``: one testsuite per check, one testcase per threshold or rule.

CI test reporters show a failing threshold like a failing test, with the reason as
the failure message. An ``error``/``skipped`` check with nothing measured still gets
one testcase so it cannot vanish from the CI summary. Every string is masked and
cut down to the characters XML 1.0 allows before junitparser sees it (``_x``).
"""

from __future__ import annotations

import re

from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from pipeline.model import CheckResult, Status
from pipeline.reporters.safe import plain
from pipeline.verdict import VerdictReport

# Outside XML 1.0's Char production (controls, lone surrogates, U+FFFE/U+FFFF) or discouraged by it
# (C1 controls, the noncharacters U+FDD0..U+FDEF): a parser refuses the document or a CI tool chokes.
_NOT_XML = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufdcf\ufdf0-\ufffd\U00010000-\U0010ffff]")


def _x(value: object) -> str:
    """``value`` as text an XML 1.0 document can hold, secrets masked."""
    return _NOT_XML.sub("", plain(value))


def render(report: VerdictReport) -> str:
    """The JUnit XML document."""
    xml = JUnitXml("readiness")
    for result in report.checks:
        xml.add_testsuite(_suite(result))
    for name in report.missing:
        suite = TestSuite(_x(name))
        case = TestCase("check ran", classname=_x(f"readiness.{name}"))
        case.result = [Error("No result: the check did not run.", "missing")]
        suite.append(case)
        suite.update_statistics()
        xml.add_testsuite(suite)
    xml.update_statistics()
    text: str = xml.tostring().decode("utf-8")
    return text


def _suite(result: CheckResult) -> TestSuite:
    suite = TestSuite(_x(result.check))
    suite.time = result.duration_s
    classname = _x(f"readiness.{result.check}")
    if result.status is Status.NOT_APPLICABLE and result.not_applicable:
        return _not_applicable(suite, result, classname)
    if result.status in (Status.ERROR, Status.SKIPPED) or not (
        result.measurements or result.findings
    ):
        case = TestCase("check ran", classname=classname, time=result.duration_s)
        message = _x(" ".join((result.summary, *result.reasons)))
        if result.status is Status.ERROR:
            case.result = [Error(message, "error")]
        elif result.status is Status.SKIPPED:
            case.result = [Skipped(message)]
        suite.append(case)
    for m in result.measurements:
        if m.ok is None:
            continue
        case = TestCase(_x(f"{m.name} {m.threshold}"), classname=classname)
        if not m.ok:
            case.result = [Failure(_x(f"{m.name} = {m.value} {m.unit}; required {m.threshold}"),
                                   "threshold")]
        suite.append(case)
    for f in result.findings:
        # A finding that restates a failed threshold already has its testcase above.
        if not f.failing or (f.measurement and not f.waived_by):
            continue
        case = TestCase(_x(f.id), classname=classname)
        if f.waived_by:
            case.result = [Skipped(_x(f"waived by {f.waived_by}"))]
        else:
            message = _x(f"{f.title} [{f.severity}] {f.location}".strip())
            detail = f.message
            case.result = [Failure(message, "finding")]
            if detail:
                case.result[0].text = _x(detail)
        suite.append(case)
    # Once, after every case is in: junitparser's add_testcase recounts the whole suite per case.
    suite.update_statistics()
    return suite


def _not_applicable(suite: TestSuite, result: CheckResult, classname: str) -> TestSuite:
    """A passed testcase named after the record, its text in system-out and a property (CI UIs show both)."""
    assert result.not_applicable is not None
    shown = f"{result.not_applicable.shown()} (review by {result.not_applicable.review_by})"
    case = TestCase(_x(f"not applicable: {result.not_applicable.reason}"), classname=classname)
    case.system_out = _x(shown)
    suite.add_property("not_applicable", _x(shown))
    suite.add_testcase(case)
    return suite
