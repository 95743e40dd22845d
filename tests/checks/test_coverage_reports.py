"""Readers of Cobertura, LCOV and JUnit: counts on good input, a named ParseError on bad input."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from xml.etree.ElementTree import Element, tostring

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.checks.coverage.reports import (
    CaseOutcome,
    JUnitFile,
    read_cobertura,
    read_junit,
    read_lcov,
    report_tool,
)
from pipeline.errors import ArtifactMissing, ParseError
from tests.conftest import cobertura_xml, junit_xml
from tests.fuzzing import fuzz


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_cobertura_counts_lines_once_even_when_methods_repeat_them(tmp_path: Path) -> None:
    xml = """<coverage line-rate="0.5"><packages><package name="p"><classes>
      <class filename="a.py"><methods><method><lines><line number="1" hits="1"/></lines></method>
      </methods><lines><line number="1" hits="1"/><line number="2" hits="0"/></lines></class>
      <class filename="a.py"><lines><line number="2" hits="3"/><line number="3" hits="0"/></lines>
      </class></classes></package></packages></coverage>"""
    report = read_cobertura(write(tmp_path, "c.xml", xml))
    assert (report.lines_covered, report.lines_valid) == (2, 3)


def test_cobertura_counts_only_the_lines_inside_a_class_own_lines(tmp_path: Path) -> None:
    """The walk keeps a depth count, not the open tags: a <line> outside the class's <lines> (before it,
    after it, or in a method) is not a statement of that class."""
    xml = """<coverage><packages><package name="p"><classes><class filename="a.py">
      <line number="7" hits="1"/><lines><line number="1" hits="1"/><line number="2" hits="0"/></lines>
      <line number="8" hits="1"/><methods><line number="10" hits="1"/><method><lines><line number="9" hits="1"/>
      </lines></method></methods>
      </class></classes></package></packages></coverage>"""
    report = read_cobertura(write(tmp_path, "c.xml", xml))
    assert (report.lines_covered, report.lines_valid) == (1, 2)


def test_cobertura_validates_each_spelling_before_it_is_remembered(tmp_path: Path) -> None:
    """Line numbers and hit counts are validated once per spelling; a bad spelling is never remembered as good."""
    good = '<class filename="a.py"><lines><line number="3" hits="2"/></lines></class>'
    bad = '<class filename="b.py"><lines><line number="3" hits="-2"/></lines></class>'
    xml = f"<coverage><packages><package name='p'><classes>{good}{bad}</classes></package></packages></coverage>"
    with pytest.raises(ParseError, match=r"b\.py: <line hits=\"-2\">.*below the smallest possible value"):
        read_cobertura(write(tmp_path, "c.xml", xml))


def test_cobertura_branches_from_condition_coverage(tmp_path: Path) -> None:
    xml = """<coverage><packages><package name="p"><classes><class filename="a.py"><lines>
      <line number="1" hits="1" branch="true" condition-coverage="50% (1/2)"/>
      <line number="2" hits="1" branch="true" condition-coverage="100% (4/4)"/>
      <line number="3" hits="1"/></lines></class></classes></package></packages></coverage>"""
    report = read_cobertura(write(tmp_path, "c.xml", xml))
    assert (report.branches_covered, report.branches_valid) == (5, 6)


@settings(max_examples=40, deadline=None)
@given(valid=st.integers(min_value=1, max_value=300), data=st.data())
def test_cobertura_counts_match_what_was_written(tmp_path_factory: pytest.TempPathFactory,
                                                 valid: int, data: st.DataObject) -> None:
    covered = data.draw(st.integers(min_value=0, max_value=valid))
    folder = tmp_path_factory.mktemp("prop")
    report = read_cobertura(write(folder, "c.xml", cobertura_xml(covered, valid)))
    assert (report.lines_covered, report.lines_valid) == (covered, valid)


def test_cobertura_with_packages_nested_deep_is_read_in_linear_time(tmp_path: Path) -> None:
    """Found by tests/test_fuzz_targets.py (cobertura, nested documents): each <package> was asked for its
    classes, so 20,000 nested packages (380 KB) took 7 s and a few MB would take the check's budget."""
    depth = 20_000
    xml = ('<coverage><packages>' + '<package name="outer">' * depth + '<package name="inner"><classes>'
           '<class filename="a.py"><lines><line number="1" hits="1"/></lines></class></classes></package>'
           + "</package>" * depth + "</packages></coverage>")
    started = time.monotonic()
    report = read_cobertura(write(tmp_path, "c.xml", xml))
    assert time.monotonic() - started < 2
    assert [(f.path, f.group) for f in report.files] == [("a.py", "inner")]  # the innermost package


@pytest.mark.parametrize(("text", "problem"), [
    ("", "is empty"),
    ('<?xml version="1.0"?><coverage><packages><package name="p">', "not well-formed XML"),
    ("<report/>", "not a Cobertura report"),
    ('<coverage lines-valid="0"><packages/></coverage>', "holds no measured lines"),
    ('<coverage><packages><package><classes><class filename="a"><lines>'
     '<line number="x" hits="1"/></lines></class></classes></package></packages></coverage>',
     "not a number"),
])
def test_cobertura_bad_input(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, "c.xml", text)
    with pytest.raises(ParseError) as err:
        read_cobertura(path)
    assert str(path) in str(err.value) and problem in str(err.value)


def test_truncated_xml_names_line_and_column(tmp_path: Path) -> None:
    text = cobertura_xml(5, 10)
    path = write(tmp_path, "c.xml", text[: len(text) // 2])
    with pytest.raises(ParseError, match=r"c\.xml: line 1, column \d+: .*truncated"):
        read_cobertura(path)


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<coverage><packages><package name="&lol3;"/></packages></coverage>"""
XXE = """<?xml version="1.0"?>
<!DOCTYPE coverage [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<testsuites><testsuite name="&xxe;"><testcase name="a"/></testsuite></testsuites>"""


def test_entity_bomb_is_refused_not_expanded(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match=r"refused: .*entities"):
        read_cobertura(write(tmp_path, "bomb.xml", BOMB))


def test_external_entity_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="refused") as err:
        read_junit(write(tmp_path, "xxe.xml", XXE))
    assert "root:" not in str(err.value)


@pytest.mark.parametrize(("reader", "text"), [
    (read_cobertura, '<!DOCTYPE coverage [<!ATTLIST line hits CDATA "1">]><coverage><packages><package name="p">'
     '<classes><class filename="a.py"><lines><line number="1"/></lines></class></classes></package></packages>'
     "</coverage>"),
    (read_junit, '<!DOCTYPE testsuites [<!ATTLIST failure message CDATA "flaky, ignore">]><testsuites>'
     '<testsuite name="s"><testcase name="a"><failure/></testcase></testsuite></testsuites>'),
])
def test_attribute_defaults_from_a_dtd_are_refused(tmp_path: Path, reader: Callable[[Path], object],
                                                   text: str) -> None:
    """A DTD default would add what the file does not hold: hits="1" on a line that has none, a failure's message."""
    with pytest.raises(ParseError, match=r"refused: .*attribute defaults.*\(AttributeDefaultsForbidden\)"):
        reader(write(tmp_path, "d.xml", text))


def test_cobertura_keeps_the_text_of_a_source_not_of_an_element_inside_it(tmp_path: Path) -> None:
    xml = ("<coverage><sources><source>/work/app<x>/../../etc</x></source></sources><packages><package name='p'>"
           "<classes><class filename='a.py'><lines><line number='1' hits='1'/></lines></class></classes>"
           "</package></packages></coverage>")
    assert read_cobertura(write(tmp_path, "c.xml", xml)).sources == ("/work/app",)


def test_cobertura_lines_of_a_class_go_on_after_a_class_inside_them(tmp_path: Path) -> None:
    """No tool nests classes; a nested one must not cut the outer class's lines short (coverage would rise)."""
    xml = ('<coverage><packages><package name="p"><classes><class filename="a.py"><lines>'
           '<line number="1" hits="0"/><class filename="b.py"><lines><line number="1" hits="1"/></lines></class>'
           '<line number="2" hits="0"/><line number="3" hits="0"/></lines></class></classes></package></packages>'
           "</coverage>")
    files = {f.path: (f.lines_covered, f.lines_valid) for f in read_cobertura(write(tmp_path, "c.xml", xml)).files}
    assert files == {"a.py": (0, 3), "b.py": (1, 1)}


def test_missing_report_is_artifact_missing(tmp_path: Path) -> None:
    with pytest.raises(ArtifactMissing, match="does not exist"):
        read_cobertura(tmp_path / "none.xml")
    with pytest.raises(ArtifactMissing, match="does not exist"):
        read_lcov(tmp_path / "none.info")


LCOV = """TN:
SF:src/a.js
FN:1,f
FNDA:1,f
DA:1,1
DA:2,0
DA:3,5
BRDA:1,0,0,1
BRDA:1,0,1,-
BRDA:1,0,2,0
LF:3
LH:2
end_of_record
SF:lib/b.js
DA:1,0
end_of_record
"""


def test_lcov_counts_lines_and_branches(tmp_path: Path) -> None:
    report = read_lcov(write(tmp_path, "l.info", LCOV))
    assert (report.lines_covered, report.lines_valid) == (2, 4)
    assert (report.branches_covered, report.branches_valid) == (1, 3)
    assert [f.group for f in report.files] == ["src", "lib"]


@pytest.mark.parametrize(("text", "where", "problem"), [
    ("SF:a\nDA:1,1\nGARBAGE here\nend_of_record\n", "line 3", "not an LCOV record"),
    ("SF:a\nDA:one,1\nend_of_record\n", "line 2", "not a number"),
    ("DA:1,1\n", "line 1", "outside a source file"),
    ("SF:a\nDA:1,1\n", "end of file", "truncated"),
    ("SF:a\nBRDA:1,0\nend_of_record\n", "line 2", "BRDA needs"),
    ("TN:\n", "", "no measured lines"),
    ("", "", "is empty"),
])
def test_lcov_bad_input(tmp_path: Path, text: str, where: str, problem: str) -> None:
    path = write(tmp_path, "l.info", text)
    with pytest.raises(ParseError) as err:
        read_lcov(path)
    assert problem in str(err.value) and where in str(err.value)


@fuzz(100)
@given(st.text(max_size=200))
def test_lcov_never_crashes_on_arbitrary_text(text: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.info"
        path.write_text(text, encoding="utf-8")
        try:
            report = read_lcov(path)
        except ParseError:
            return
        assert report.lines_valid > 0


@pytest.mark.parametrize(("depth", "cases"), [(100, 1), (101, None), (3000, None)])
def test_junit_nested_beyond_any_real_report_is_a_parse_error_not_a_crash(tmp_path: Path, depth: int,
                                                                         cases: int | None) -> None:
    """Found while fuzzing the JUnit reader: 3,000 nested suites made its recursive walk raise
    RecursionError, so the coverage check 'crashed'."""
    text = ("<testsuites>" + '<testsuite name="s">' * depth + '<testcase classname="c" name="t"/>'
            + "</testsuite>" * depth + "</testsuites>")
    path = write(tmp_path, "deep.xml", text)
    if cases is None:
        with pytest.raises(ParseError, match=r"deep\.xml: <testsuite name=\"s\">: suites nested more than 100 deep"):
            read_junit(path)
    else:
        assert read_junit(path).passed == cases
        failing = write(tmp_path, "failing.xml", text.replace("/>", "><failure/></testcase>", 1))
        assert [o.suite.count("/") + 1 for o in read_junit(failing).problems] == [depth]


def test_junit_outcomes(tmp_path: Path) -> None:
    path = write(tmp_path, "j.xml", junit_xml(passed=2, failed=("test_a",), errors=("test_b",),
                                               skipped=1))
    read = read_junit(path)
    assert (read.source, read.passed, read.skipped, read.ran, read.total) == (str(path), 2, 1, 4, 5)
    assert [(o.name, o.outcome, o.message, o.suite) for o in read.problems] == [
        ("test_a", "failed", "boom test_a", "pytest"), ("test_b", "error", "crash", "pytest")]


def test_junit_nested_suites_count_each_case_once(tmp_path: Path) -> None:
    xml = """<testsuites><testsuite name="all"><testsuite name="A"><testcase name="x">
      <failure message="f"/></testcase></testsuite><testsuite name="B"><testcase name="x"/>
      <testcase name="y"><error message="e"/></testcase></testsuite><testcase name="top"><failure/></testcase>
      </testsuite></testsuites>"""
    read = read_junit(write(tmp_path, "j.xml", xml))
    assert [(o.suite, o.name, o.outcome) for o in read.problems] == [
        ("all/A", "x", "failed"), ("all/B", "y", "error"), ("all", "top", "failed")]
    assert read.passed == 1


def test_junit_result_wrapped_inside_a_case_still_counts(tmp_path: Path) -> None:
    """No tool wraps a result, but a gate that must say no counts an error it finds anywhere in the case."""
    xml = """<testsuites><testsuite name="s"><testcase name="a"><x><error message="hidden"/></x></testcase>
      <testcase name="b"><system-out>ok</system-out></testcase></testsuite></testsuites>"""
    read = read_junit(write(tmp_path, "j.xml", xml))
    assert [(o.name, o.outcome, o.message) for o in read.problems] == [("a", "error", "hidden")]
    assert read.passed == 1


def test_junit_wrong_root(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="not a JUnit XML report"):
        read_junit(write(tmp_path, "j.xml", "<coverage/>"))


# --- every number is validated ------------------------------------------------------------


def one_line(attributes: str, root: str = "") -> str:
    """A Cobertura report with one file and one <line> carrying ``attributes``."""
    return (f"<coverage {root}><sources><source>/src</source></sources><packages><package name='p'>"
            f"<classes><class filename='a.py'><lines><line {attributes}/></lines></class></classes>"
            "</package></packages></coverage>")


@pytest.mark.parametrize(("attributes", "root", "problem"), [
    ('number="1" hits="-1"', "", "below the smallest possible value"),
    ('number="1" hits="1.5"', "", "not a whole number"),
    ('number="1" hits="nan"', "", "not a finite number"),
    ('number="1" hits="inf"', "", "not a finite number"),
    ('number="1" hits="true"', "", "not a number"),
    ('number="1"', "", "'hits' is missing"),
    ('number="0" hits="1"', "", "a line number starts at 1"),
    ('number="-3" hits="1"', "", "below the smallest possible value"),
    ('number="1" hits="1" branch="true" condition-coverage="150% (3/2)"', "", "3 of 2 branches"),
    ('number="1" hits="1" branch="true" condition-coverage="50% (-1/2)"', "", "expected 'N% (taken/total)'"),
    ('number="1" hits="1" branch="true" condition-coverage="lots"', "", "expected 'N% (taken/total)'"),
    ('number="1" hits="1"', 'line-rate="nan"', "not a finite number"),
    ('number="1" hits="1"', 'line-rate="1.5"', "above the largest possible value"),
    ('number="1" hits="1"', 'lines-valid="-1"', "below the smallest possible value"),
    ('number="1" hits="1"', 'lines-valid="1" lines-covered="2"', "more covered than the 1 measured"),
    ('number="1" hits="1"', 'branches-valid="1" branches-covered="2"', "more covered than the 1 measured"),
    ('number="1" hits="1"', 'lines-valid="40" lines-covered="1"', "declares 40 but its <line> elements count 1"),
])
def test_cobertura_hostile_numbers_are_parse_errors(tmp_path: Path, attributes: str, root: str,
                                                    problem: str) -> None:
    path = write(tmp_path, "c.xml", one_line(attributes, root))
    with pytest.raises(ParseError) as err:
        read_cobertura(path)
    assert str(path) in str(err.value) and problem in str(err.value)


def test_cobertura_with_a_class_cut_out_is_refused_by_its_own_totals(tmp_path: Path) -> None:
    text = cobertura_xml(3, 4).replace("</classes>", '<class filename="pkg/b.py"><lines>'
                                       '<line number="1" hits="1"/></lines></class></classes>')
    text = text.replace('lines-valid="4" lines-covered="3"', 'lines-valid="5" lines-covered="4"')
    assert read_cobertura(write(tmp_path, "full.xml", text)).lines_valid == 5
    cut = text.replace('<class filename="pkg/b.py"><lines><line number="1" hits="1"/></lines></class>', "")
    with pytest.raises(ParseError, match="declares 5 but its <line> elements count 4"):
        read_cobertura(write(tmp_path, "cut.xml", cut))


def test_cobertura_keeps_the_measured_sources(tmp_path: Path) -> None:
    report = read_cobertura(write(tmp_path, "c.xml", one_line('number="1" hits="1"')))
    assert report.sources == ("/src",)


@pytest.mark.parametrize(("text", "problem"), [
    ("SF:a\nDA:0,1\nend_of_record\n", "a line number starts at 1"),
    ("SF:a\nDA:1,-1\nend_of_record\n", "below the smallest possible value"),
    ("SF:a\nDA:1,nan\nend_of_record\n", "not a finite number"),
    ("SF:a\nDA:1,1.5\nend_of_record\n", "not a whole number"),
    ("SF:a\nDA:1\nend_of_record\n", "DA needs line,hits"),
    ("SF:a\nDA:1,1\nBRDA:1,0,0,-2\nend_of_record\n", "below the smallest possible value"),
    ("SF:a\nDA:1,1\nBRDA:x,0,0,1\nend_of_record\n", "not a number"),
    ("SF:a\nDA:1,1\nLF:-1\nend_of_record\n", "(LF): is -1.0, below"),
    ("SF:a\nDA:1,1\nFNDA:x,f\nend_of_record\n", "(FNDA hits)"),
    ("SF:a\nDA:1,1\nFNA:0\nend_of_record\n", "FNA needs"),
    ("SF:a\nDA:1,1\nFN:0,f\nend_of_record\n", "a line number starts at 1"),
    ("SF:\nDA:1,1\nend_of_record\n", "(SF): is empty"),
    ("end_of_record\n", "outside a source file"),
])
def test_lcov_hostile_numbers_are_parse_errors(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, "l.info", text)
    with pytest.raises(ParseError) as err:
        read_lcov(path)
    assert problem in str(err.value) and "line " in str(err.value)


def test_lcov_records_of_one_file_are_merged_not_counted_twice(tmp_path: Path) -> None:
    # geninfo writes one record per test name (TN) for the same source file.
    text = "TN:a\nSF:x.c\nDA:1,1\nDA:2,0\nend_of_record\nTN:b\nSF:x.c\nDA:1,0\nDA:2,3\nend_of_record\n"
    report = read_lcov(write(tmp_path, "l.info", text))
    assert (report.lines_covered, report.lines_valid, len(report.files)) == (2, 2, 1)


def test_report_tool_reads_the_version_from_the_report(tmp_path: Path) -> None:
    coveragepy = ('<?xml version="1.0" ?>\n<coverage version="7.17.5" line-rate="1">\n'
                  "\t<!-- Generated by coverage.py: https://coverage.readthedocs.io/en/7.17.5 -->\n"
                  "</coverage>")
    assert report_tool(write(tmp_path, "a.xml", coveragepy), "cobertura") == (
        "coverage.py", "7.17.5 (from the Cobertura report's version attribute)")
    assert report_tool(write(tmp_path, "b.xml", "<coverage/>"), "cobertura") == (
        "", "unknown (the Cobertura report carries no version attribute)")
    name, version = report_tool(write(tmp_path, "l.info", LCOV), "lcov")
    assert name == "" and version.startswith("unknown (an LCOV tracefile")


# --- property tests: mutated documents give a report or a ParseError, nothing else -----------

_VALUES = st.one_of(st.sampled_from(["-1", "0", "1", "2", "1.5", "nan", "inf", "-inf", "1e400", "", " ",
                                     "true", "0x10", "3/2", "50% (1/2)", "50% (3/2)", "(1/0)", "é"]),
                    st.text(max_size=8))


@fuzz(150)
@given(hits=_VALUES, number=_VALUES, condition=_VALUES, rate=_VALUES, valid=_VALUES)
def test_cobertura_mutated_numbers_never_crash(hits: str, number: str, condition: str, rate: str,
                                               valid: str) -> None:
    import tempfile
    from xml.sax.saxutils import quoteattr

    line = (f"number={quoteattr(number)} hits={quoteattr(hits)} branch=\"true\" "
            f"condition-coverage={quoteattr(condition)}")
    text = one_line(line, f"line-rate={quoteattr(rate)} lines-valid={quoteattr(valid)}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.xml"
        path.write_text(text, encoding="utf-8")
        try:
            report = read_cobertura(path)
        except ParseError:
            return
    assert 0 <= report.lines_covered <= report.lines_valid == 1
    assert 0 <= report.branches_covered <= report.branches_valid


_LCOV_LINE = st.builds(
    lambda key, fields: f"{key}:{','.join(fields)}",
    st.sampled_from(["SF", "DA", "BRDA", "FN", "FNDA", "FNA", "FNL", "LF", "LH", "BRF", "BRH", "TN", "VER"]),
    st.lists(_VALUES, min_size=0, max_size=5))


@fuzz(150)
@given(st.lists(st.one_of(_LCOV_LINE, st.just("end_of_record"), st.just("SF:a.js")), max_size=25))
def test_lcov_mutated_records_never_crash(lines: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.info"
        path.write_text("\n".join(lines), encoding="utf-8")
        try:
            report = read_lcov(path)
        except ParseError:
            return
    assert report.lines_valid > 0 and 0 <= report.lines_covered <= report.lines_valid
    assert 0 <= report.branches_covered <= report.branches_valid


# --- the streamed JUnit walk against a plain walk of the whole tree --------------------------

_JUNIT_TAGS = ("testsuites", "testsuite", "testcase", "failure", "error", "skipped", "properties", "system-out")
_JUNIT_WORDS = st.one_of(st.text(alphabet="ab <&>\"'\n\t", max_size=6),
                         st.integers(8000, 9000).map(lambda n: "x" * n + "\nsecond line"))  # past expat's text buffer
_JUNIT_ATTRS = st.dictionaries(st.sampled_from(("name", "classname", "message")), _JUNIT_WORDS, max_size=3)


def _element(tag: str, attrs: dict[str, str], text: str, children: list[Element], tail: str) -> Element:
    element = Element(tag, attrs)
    element.text, element.tail = text, tail
    element.extend(children)
    return element


_JUNIT_TREES = st.recursive(
    st.builds(_element, st.sampled_from(_JUNIT_TAGS), _JUNIT_ATTRS, _JUNIT_WORDS, st.just([]), _JUNIT_WORDS),
    lambda kids: st.builds(_element, st.sampled_from(_JUNIT_TAGS), _JUNIT_ATTRS, _JUNIT_WORDS,
                           st.lists(kids, max_size=4), _JUNIT_WORDS),
    max_leaves=40)


def _junit_by_tree(root: Element, source: str) -> JUnitFile:
    """What a JUnit file says, by the rules of ``read_junit`` applied to the whole tree (the slow, plain way)."""
    rank = {"error": 3, "failure": 2, "skipped": 1}
    counts, problems = {"passed": 0, "skipped": 0}, []

    def suite(element: Element, path: str) -> None:
        for child in element:
            if child.tag in ("testsuites", "testsuite"):
                name = child.get("name", "") if child.tag == "testsuite" else ""
                suite(child, "/".join(p for p in (path, name) if p))
            elif child.tag == "testcase":
                case(child, path)

    def case(element: Element, path: str) -> None:
        results = [inside for inside in element.iter() if inside.tag in rank and inside is not element]
        if not results:
            counts["passed"] += 1
            return
        worst = max(results, key=lambda r: rank[r.tag])  # the first of the worst
        if worst.tag == "skipped":
            counts["skipped"] += 1
            return
        body = "".join([worst.text or "", *(child.tail or "" for child in worst)])
        message = worst.get("message") or next(iter(body.strip().splitlines()), "")
        problems.append(CaseOutcome(path, element.get("classname", ""), element.get("name", ""),
                                    "failed" if worst.tag == "failure" else "error", message, source))

    document = Element("document")  # the root is walked as the one child of the document
    document.append(root)
    suite(document, "")
    return JUnitFile(source, counts["passed"], counts["skipped"], tuple(problems))


@fuzz(200)
@given(root_tag=st.sampled_from(("testsuites", "testsuite")), attrs=_JUNIT_ATTRS, text=_JUNIT_WORDS,
       children=st.lists(_JUNIT_TREES, max_size=6))
def test_junit_stream_reads_what_the_whole_tree_says(root_tag: str, attrs: dict[str, str], text: str,
                                                     children: list[Element]) -> None:
    """The streamed reader keeps a depth count instead of a tree: any nesting of suites, cases, results,
    properties and text must give the counts, suite paths and messages the whole tree gives."""
    import tempfile

    root = _element(root_tag, attrs, text, children, "")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "j.xml"
        path.write_bytes(tostring(root, encoding="utf-8"))
        assert read_junit(path, "j.xml") == _junit_by_tree(root, "j.xml")
