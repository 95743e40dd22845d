"""Parse untrusted XML safely: no entity expansion, no external references.

Reports come from tools and sites we do not control; defusedxml refuses entity
bombs and external entities instead of expanding them.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError as ExpatError

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
    try:
        root: Element = SafeET.fromstring(data)
    except defusedxml.DefusedXmlException as exc:
        raise ParseError(
            path, "", f"refused: the {what} declares XML entities or external references "
            f"({type(exc).__name__}); a genuine report never does",
            "Regenerate the report with the tool itself; do not accept it from an untrusted source.",
        ) from None
    except (LookupError, ValueError) as exc:  # expat reads few encodings: "bogus", "shift_jis"...
        raise ParseError(
            path, "XML declaration", f"the {what} declares an encoding the XML parser cannot read ({exc})",
            "Write the report in UTF-8 (every coverage, test and ZAP tool does by default).",
        ) from None
    except ExpatError as exc:
        line, column = exc.position
        raise ParseError(
            path, f"line {line}, column {column}",
            f"the {what} is not well-formed XML (truncated or corrupt): {str(exc).split(':')[0]}",
            "Re-run the tool; a report cut short usually means it was killed while writing.",
        ) from None
    return root
