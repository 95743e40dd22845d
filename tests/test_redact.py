"""Secrets never reach a report: URL passwords, password= values, registered secrets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipeline.redact import redact, redact_tree, register_secret


def test_url_password_is_masked() -> None:
    text = "could not connect to postgresql://app:hunter22@127.0.0.1:5432/orders"
    assert redact(text) == "could not connect to postgresql://app:***@127.0.0.1:5432/orders"


def test_keyword_password_is_masked() -> None:
    assert redact("host=db user=app password=hunter22 dbname=x") == (
        "host=db user=app password=*** dbname=x")


def test_registered_secret_is_masked_everywhere_in_a_tree() -> None:
    register_secret("tok-ABCDEFG")
    tree = {"a": ["Bearer tok-ABCDEFG"], "tok-ABCDEFG": 1}
    assert redact_tree(tree) == {"a": ["Bearer ***"], "***": 1}


PASSWORD_CHARS = st.characters(blacklist_characters="@/:", max_codepoint=0x2FF,
                               blacklist_categories=("Cc", "Zs", "Zl", "Zp"))


@given(st.text(alphabet=PASSWORD_CHARS, min_size=1, max_size=30))
def test_any_url_password_disappears(password: str) -> None:
    assert redact(f"postgresql://user:{password}@host/db") == "postgresql://user:***@host/db"


def test_terminal_safe_removes_escapes_and_controls_but_keeps_text() -> None:
    from pipeline.redact import terminal_safe

    hostile = "a\x1b[31mred\x1b[0m b\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\ c\rd\x07e\tf\n"
    assert terminal_safe(hostile) == "ared blink cde\tf\n"
