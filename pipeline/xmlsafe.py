"""Parse untrusted XML safely: no entity expansion, no external references.

Reports come from tools and sites we do not control; defusedxml refuses entity
bombs and external entities instead of expanding them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO
from xml.etree.ElementTree import Element, TreeBuilder
from xml.etree.ElementTree import ParseError as ExpatError
from xml.parsers import expat
from xml.parsers.expat import XMLParserType

import defusedxml
import defusedxml.ElementTree as SafeET

from pipeline.errors import ArtifactMissing, ParseError


def parse_xml_file(path: Path, what: str) -> Element:
    """Root element of the XML file ``path``; ``what`` names the report kind in errors."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactMissing(
            f"{path}: the {what} does not exist.",
            "Check the path in the config, or that the tool that writes it ran.",
        ) from None
    if not data.strip():
        raise ParseError(path, "", f"the {what} is empty", "Re-run the tool that writes it.")
    parser = SafeET.DefusedXMLParser(target=TreeBuilder())
    parser.parser.AttlistDeclHandler = _refuse_attlist  # what defusedxml lets through: see protected_parser
    try:
        parser.feed(data)
        root: Element = parser.close()
    except defusedxml.DefusedXmlException as exc:
        raise _refused(path, what, type(exc).__name__) from None
    except _Refused as refused:
        raise _refused(path, what, str(refused)) from None
    except (LookupError, ValueError) as exc:  # expat reads few encodings: "bogus", "shift_jis"...
        raise _unreadable_encoding(path, what, exc) from None
    except ExpatError as exc:
        line, column = exc.position
        raise _malformed(path, what, line, column, str(exc)) from None
    return root


def _refused(path: Path, what: str, kind: str) -> ParseError:
    return ParseError(
        path, "", f"refused: the {what} declares XML entities, attribute defaults or external "
        f"references ({kind}); a genuine report never does",
        "Regenerate the report with the tool itself; do not accept it from an untrusted source.")


def _unreadable_encoding(path: Path, what: str, exc: Exception) -> ParseError:
    return ParseError(
        path, "XML declaration", f"the {what} declares an encoding the XML parser cannot read ({exc})",
        "Write the report in UTF-8 (every coverage, test and ZAP tool does by default).")


def _malformed(path: Path, what: str, line: int, column: int, message: str) -> ParseError:
    return ParseError(
        path, f"line {line}, column {column}",
        f"the {what} is not well-formed XML (truncated or corrupt): {message.split(':')[0]}",
        "Re-run the tool; a report cut short usually means it was killed while writing.")


_CHUNK = 1 << 20


class _Refused(Exception):
    """An entity or attribute declaration, or an external reference: raised from expat's handlers, made a ParseError."""


def _refuse(*_: object) -> Any:
    raise _Refused("EntitiesForbidden")


def _refuse_attlist(*_: object) -> Any:
    raise _Refused("AttributeDefaultsForbidden")


def protected_parser() -> XMLParserType:
    """An expat parser with defusedxml's protections, for a reader that streams with its own handlers.

    An entity declaration (internal or external) or an external reference is refused, so
    neither an entity bomb nor a reference to a local file can be expanded; so is an attribute
    declaration, whose default would add a value the file does not hold. The reader sets
    the element handlers (and a text handler only while it wants text: each handler called
    costs about a microsecond, and a large report has a million elements) and calls
    ``feed_xml_file``. No tree is built: memory stays flat whatever the size.
    """
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    # A DTD's attribute default would add a value the file does not hold (hits="1", a message).
    parser.AttlistDeclHandler = _refuse_attlist
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    return parser


def feed_xml_file(parser: XMLParserType, path: Path, what: str) -> None:
    """Feed the XML file ``path`` to ``parser`` (from ``protected_parser``); errors as ``parse_xml_file`` gives them."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise ArtifactMissing(f"{path}: the {what} does not exist.",
                              "Check the path in the config, or that the tool that writes it ran.") from None
    with handle:
        _feed(parser, handle, path, what)


def _feed(parser: XMLParserType, handle: BinaryIO, path: Path, what: str) -> None:
    content = False
    try:
        while chunk := handle.read(_CHUNK):
            content = content or bool(chunk.strip())
            parser.Parse(chunk, False)
        if not content:
            raise ParseError(path, "", f"the {what} is empty", "Re-run the tool that writes it.")
        parser.Parse(b"", True)
    except _Refused as refused:
        raise _refused(path, what, str(refused)) from None
    except (LookupError, ValueError) as exc:
        raise _unreadable_encoding(path, what, exc) from None
    except expat.ExpatError as exc:
        raise _malformed(path, what, exc.lineno, exc.offset, str(exc)) from None
