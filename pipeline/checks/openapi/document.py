"""An OpenAPI document as text: decoded from JSON or YAML, without the validator (a light import).

The docs and schema checks read specs too; they need the document, not openapi-spec-validator.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from pipeline import yamlsafe
from pipeline.errors import ParseError

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def load(text: str, source: str) -> Any:
    """The decoded JSON or YAML document; ParseError names the line."""
    try:
        return json.loads(text) if text.lstrip().startswith("{") else yamlsafe.load(text, source)
    except json.JSONDecodeError as exc:
        raise ParseError(source, f"line {exc.lineno} column {exc.colno}", f"is not valid JSON ({exc.msg})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ParseError(source, f"line {mark.line + 1}" if mark else "", "is not valid YAML") from None
    except RecursionError:
        raise ParseError(source, "", "is nested too deeply to be an OpenAPI document") from None
