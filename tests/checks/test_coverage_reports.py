"""Readers of Cobertura, LCOV and JUnit: counts on good input, a named ParseError on bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.checks.coverage_reports import read_cobertura, read_junit, read_lcov
from pipeline.errors import ArtifactMissing, ParseError
from tests.conftest import cobertura_xml, junit_xml


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


@pytest.mark.parametrize(("text", "problem"), [
    ("", "is empty"),
    ('<?xml version="1.0"?><coverage><packages><package name="p">', "not well-formed XML"),
    ("<report/>", "not a Cobertura report"),
    ('<coverage lines-valid="0"><packages/></coverage>', "holds no measured lines"),
    ('<coverage><packages><package><classes><class filename="a"><lines>'
     '<line number="x" hits="1"/></lines></class></classes></package></packages></coverage>',
     "must be a number"),
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
    ("SF:a\nDA:one,1\nend_of_record\n", "line 2", "whole numbers"),
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


def test_junit_outcomes(tmp_path: Path) -> None:
    path = write(tmp_path, "j.xml", junit_xml(passed=2, failed=("test_a",), errors=("test_b",),
                                               skipped=1))
    outcomes = read_junit(path)
    assert sorted(o.outcome for o in outcomes) == ["error", "failed", "passed", "passed", "skipped"]
    failed = next(o for o in outcomes if o.outcome == "failed")
    assert (failed.name, failed.message, failed.suite) == ("test_a", "boom test_a", "pytest")


def test_junit_nested_suites_count_each_case_once(tmp_path: Path) -> None:
    xml = """<testsuites><testsuite name="all"><testsuite name="A"><testcase name="x">
      <failure message="f"/></testcase></testsuite><testsuite name="B"><testcase name="x"/>
      </testsuite><testcase name="top"/></testsuite></testsuites>"""
    outcomes = read_junit(write(tmp_path, "j.xml", xml))
    assert [(o.suite, o.name, o.outcome) for o in outcomes] == [
        ("all/A", "x", "failed"), ("all/B", "x", "passed"), ("all", "top", "passed")]


def test_junit_wrong_root(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="not a JUnit XML report"):
        read_junit(write(tmp_path, "j.xml", "<coverage/>"))
