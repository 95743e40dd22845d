"""Untrusted XML: entity tricks and unreadable encodings are ParseErrors naming the file, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import ParseError
from pipeline.xmlsafe import parse_xml_file


@pytest.mark.parametrize("encoding", ["utfNaN", "shift_jis"])
def test_an_encoding_the_parser_cannot_read_is_a_parse_error(tmp_path: Path, encoding: str) -> None:
    """Found by tests/test_fuzz_targets.py (junit): expat's LookupError/ValueError escaped as a crash."""
    path = tmp_path / "junit.xml"
    path.write_bytes(f'<?xml version="1.0" encoding="{encoding}"?><testsuites/>'.encode())
    with pytest.raises(ParseError, match=r"junit\.xml: XML declaration: the JUnit report declares an encoding"):
        parse_xml_file(path, "JUnit report")


def test_a_single_byte_encoding_is_read(tmp_path: Path) -> None:
    path = tmp_path / "r.xml"
    path.write_bytes(b'<?xml version="1.0" encoding="cp1252"?><r>caf\xe9</r>')
    assert parse_xml_file(path, "report").text == "café"


def test_an_entity_declaration_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.xml"
    path.write_text('<!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>')
    with pytest.raises(ParseError, match="declares XML entities"):
        parse_xml_file(path, "report")
