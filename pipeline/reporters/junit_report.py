"""``readiness.junit.xml``: one testsuite per check, one testcase per threshold or rule.

CI test reporters show a failing threshold like a failing test, with the reason as
the failure message. An ``error``/``skipped`` check with nothing measured still gets
one testcase so it cannot vanish from the CI summary.
"""

from __future__ import annotations

from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

from pipeline.model import CheckResult, Status
from pipeline.verdict import VerdictReport


def render(report: VerdictReport) -> str:
    """The JUnit XML document."""
    xml = JUnitXml("readiness")
    for result in report.checks:
        xml.add_testsuite(_suite(result))
    for name in report.missing:
        suite = TestSuite(name)
        case = TestCase("check ran", classname=f"readiness.{name}")
        case.result = [Error("No result: the check did not run.", "missing")]
        suite.add_testcase(case)
        xml.add_testsuite(suite)
    xml.update_statistics()
    text: str = xml.tostring().decode("utf-8")
    return text


def _suite(result: CheckResult) -> TestSuite:
    suite = TestSuite(result.check)
    suite.time = result.duration_s
    classname = f"readiness.{result.check}"
    if result.status in (Status.ERROR, Status.SKIPPED) or not (
        result.measurements or result.findings
    ):
        case = TestCase("check ran", classname=classname, time=result.duration_s)
        message = " ".join((result.summary, *result.reasons))
        if result.status is Status.ERROR:
            case.result = [Error(message, "error")]
        elif result.status is Status.SKIPPED:
            case.result = [Skipped(message)]
        suite.add_testcase(case)
    for m in result.measurements:
        if m.ok is None:
            continue
        case = TestCase(f"{m.name} {m.threshold}", classname=classname)
        if not m.ok:
            case.result = [Failure(f"{m.name} = {m.value} {m.unit}; required {m.threshold}",
                                   "threshold")]
        suite.add_testcase(case)
    for f in result.findings:
        # A finding that restates a failed threshold already has its testcase above.
        if not f.failing or (f.details.get("measurement") and not f.waived_by):
            continue
        case = TestCase(f.id, classname=classname)
        if f.waived_by:
            case.result = [Skipped(f"waived by {f.waived_by}")]
        else:
            message = f"{f.title} [{f.severity}] {f.location}".strip()
            detail = f.details.get("message")
            case.result = [Failure(message, "finding")]
            if detail:
                case.result[0].text = str(detail)
        suite.add_testcase(case)
    suite.update_statistics()
    return suite
