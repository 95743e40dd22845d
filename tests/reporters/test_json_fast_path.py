"""readiness.json: the one-pass encoding equals the strict walk (lone surrogates dropped, NaN as null).

The reporter encodes the masked tree directly and walks it only when the encoded text holds a
surrogate escape or a number is not finite; whatever the text, the document must be the one
the walk alone would write.
"""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.model import CheckResult, Finding, Measurement, Status
from pipeline.redact import redact_tree
from pipeline.reporters import json_report
from pipeline.verdict import decide

# Any code point, lone surrogates and characters outside the BMP included.
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=8)
NUMBERS = st.floats() | st.integers() | st.sampled_from([math.nan, math.inf, -math.inf])


def _walked(report_dict: object) -> str:
    """What the reporter wrote before the one-pass encoding: walk, then encode."""
    return json.dumps(json_report._strict(redact_tree(report_dict)), default=str, allow_nan=False) + "\n"


@settings(max_examples=150, deadline=None)
@given(title=TEXT, key=TEXT, value=NUMBERS)
def test_the_json_report_is_the_strict_walk_whatever_the_text(title: str, key: str, value: float) -> None:
    finding = Finding("f-1", "high", title, "x", details={key: title, "n": value})
    result = CheckResult("zap", Status.FAIL, title or "s", reasons=(title,),
                         measurements=(Measurement(key or "m", value, "ms", None, False),), findings=(finding,))
    report = decide([result])
    text = json_report.render(report)
    assert text == _walked(report.to_dict())
    json.loads(text, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in json.loads(text)["checks"][0]["summary"])


def test_plain_text_takes_the_one_pass_and_keeps_every_character() -> None:
    report = decide([CheckResult("zap", Status.FAIL, "é 😀 \u202e ok", findings=(Finding("a", "high", "t", "l"),))])
    text = json_report.render(report)
    assert text == _walked(report.to_dict())
    assert json.loads(text)["checks"][0]["summary"] == "é 😀 \u202e ok"
