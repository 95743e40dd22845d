"""The link rules every report shares: http(s) URLs and relative paths inside reports/, nothing else."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.reporters.safe import http_url, plain, relative_path


@pytest.mark.parametrize(("value", "expected"), [
    ("evidence/coverage-command.log", "evidence/coverage-command.log"),
    ("./evidence/a b.log", "./evidence/a%20b.log"),
    ("evidence/%2e%2e/x", "evidence/%252e%252e/x"),  # encoded dots stay dots in a name, never a way up
    ("evidence/r#1?.json", "evidence/r%231%3F.json"),
    ("../secrets.txt", None), ("evidence/../../x", None), ("a/..", None), ("..", None),
    ("/etc/passwd", None), ("//evil.example/x", None), ("\\\\host\\share", None), ("a\\..\\b", None),
    ("javascript:alert(1)", None), ("JaVaScRiPt:alert(1)", None), ("data:text/html,x", None),
    ("file:///etc/passwd", None), ("C:/Windows", None), (" javascript:x", None), ("a//b", None),
    ("ev\x00il", None), ("line\nbreak", None), ("bad\ud800", None), ("", None), (None, None), (3, None),
])
def test_relative_path(value: object, expected: str | None) -> None:
    assert relative_path(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("https://osv.dev/vulnerability/PYSEC-1", "https://osv.dev/vulnerability/PYSEC-1"),
    ("HTTP://example.org/a?b=c", "HTTP://example.org/a?b=c"),
    ("https://user:hunter22@example.org/", "https://user:***@example.org/"),
    ("https://", None), ("https:///path", None), ("http:example.org", None), ("//example.org", None),
    ("javascript:alert(1)//https://x", None), ("ftp://example.org/x", None),
    ('https://x/"><script>', None), ("https://x/ a", None), ("https://[::1/", None), ("https://x/\u202e", None),
])
def test_http_url(value: str, expected: str | None) -> None:
    assert http_url(value) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_a_relative_link_never_leaves_the_folder(value: str) -> None:
    link = relative_path(value)
    if link is not None:
        assert ":" not in link.split("/")[0] and not link.startswith("/")
        assert ".." not in link.split("/") and "\\" not in link


def test_plain_strips_escapes_before_masking() -> None:
    from pipeline.redact import register_secret

    register_secret("sp1iced-s3cret")
    assert plain("token sp1i\x1b[0mced-s3cret\x07 end") == "token *** end"
