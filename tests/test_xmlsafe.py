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


def test_an_attribute_declaration_is_refused_by_the_tree_parser_too(tmp_path: Path) -> None:
    """defusedxml lets a DTD's attribute default through: a ZAP alert would gain a riskcode its file does not hold."""
    path = tmp_path / "zap.xml"
    path.write_text('<!DOCTYPE OWASPZAPReport [<!ATTLIST alertitem riskcode CDATA "0">]><OWASPZAPReport>'
                    "<site><alerts><alertitem><pluginid>1</pluginid></alertitem></alerts></site></OWASPZAPReport>")
    with pytest.raises(ParseError, match=r"refused: .*attribute defaults.*\(AttributeDefaultsForbidden\)"):
        parse_xml_file(path, "ZAP XML report")


def test_a_doctype_without_declarations_is_read(tmp_path: Path) -> None:
    """Java Cobertura and some ZAP versions name an external DTD; nothing is fetched or declared."""
    path = tmp_path / "r.xml"
    path.write_text('<!DOCTYPE r SYSTEM "http://example.invalid/r.dtd"><r a="1">x</r>')
    root = parse_xml_file(path, "report")
    assert (root.tag, root.get("a"), root.text) == ("r", "1", "x")
