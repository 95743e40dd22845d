"""Secrets never reach a report: URL passwords, key/value forms, secret environment variables.

Terminal text: no escape sequence, control or bidi character survives ``terminal_safe``.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import redact as redact_module
from pipeline.redact import (
    is_secret_name,
    one_line,
    redact,
    redact_tree,
    register_environment,
    register_secret,
    terminal_safe,
)


@contextlib.contextmanager
def own_secrets() -> Iterator[None]:
    """Secrets registered inside stay inside (the registry is process-wide)."""
    saved = set(redact_module._secrets)
    try:
        yield
    finally:
        redact_module._secrets.clear()
        redact_module._secrets.update(saved)


def test_url_password_is_masked() -> None:
    text = "could not connect to postgresql://app:hunter22@127.0.0.1:5432/orders"
    assert redact(text) == "could not connect to postgresql://app:***@127.0.0.1:5432/orders"


def test_keyword_password_is_masked() -> None:
    assert redact("host=db user=app password=hunter22 dbname=x") == (
        "host=db user=app password=*** dbname=x")


def test_registered_secret_is_masked_everywhere_in_a_tree() -> None:
    with own_secrets():
        register_secret("tok-ABCDEFG")
        tree = {"a": ["Bearer tok-ABCDEFG"], "tok-ABCDEFG": 1}
        assert redact_tree(tree) == {"a": ["Bearer ***"], "***": 1}


@pytest.mark.parametrize(("text", "expected"), [
    ('{"password": "hu\\"nter2", "user": "app"}', '{"password": "***", "user": "app"}'),
    ("{'token': 'abc123'}", "{'token': '***'}"),
    ('"db_password":"x1"', '"db_password":"***"'),
    ("password: two words here # comment", "password: *** # comment"),
    ("  - api_key: k-123", "  - api_key: ***"),
    ("client_secret: 'q w e'", "client_secret: '***'"),
    ("PGPASSWORD=s3cret psql -h db", "PGPASSWORD=*** psql -h db"),
    ("GET /cb?access_token=abc123&state=1", "GET /cb?access_token=***&state=1"),
    ("Authorization: Bearer eyJhbGciOi.x-y", "Authorization: Bearer ***"),
    ('"Authorization": "Basic dXNlcjpwYXNz"', '"Authorization": "Basic ***"'),
    ("curl -H 'X-Api-Key: abcd1234' http://x", "curl -H 'X-Api-Key: ***' http://x"),
    ("sent Bearer 9f8e7d6c5b4a", "sent Bearer ***"),
    ("redis://:pw-123456@cache:6379/0", "redis://:***@cache:6379/0"),
])
def test_secret_forms_are_masked(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", [
    "use Bearer authentication for the API",
    "token_type: bearer",
    "max_tokens: 512",
    "password authentication failed for user \"app\"",
    "password: null",
    "password=${DB_PASSWORD}",
    'token: "***"',
    "keyboard: 8080",
])
def test_look_alikes_and_placeholders_stay(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize("name", [
    "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "PGPASSWORD", "SMTP_PASSWD", "API_KEY",
    "STRIPE_PRIVATE_KEY", "SENTRY_DSN", "READINESS_DATABASE_URL", "GOOGLE_CREDENTIALS", "DB_PASS", "gpg_passphrase",
])
def test_secret_variable_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["PATH", "HOME", "PWD", "OLDPWD", "PASSAGE", "SERVICE_URL", "LANG"])
def test_ordinary_variable_names(name: str) -> None:
    assert not is_secret_name(name)


def test_environment_secrets_are_masked_whatever_the_config_names() -> None:
    env = {"ACME_API_KEY": "ak-7781-Zz", "SOME_PASSWORD": "c0rrect-horse", "HOME": "/home/someone-long",
           "FEATURE_TOKEN": "true", "PORT_SECRET": "8080", "DB_PASSWORD": "postgres", "X_KEY": "abc"}
    with own_secrets():
        assert register_environment(env) == 6
        out = redact("key ak-7781-Zz pw c0rrect-horse home /home/someone-long flag true port 8080 user postgres abc")
    assert "ak-7781-Zz" not in out and "c0rrect-horse" not in out
    # Too short, numbers and well-known defaults are not masked: they would wreck every report.
    assert "/home/someone-long" in out and "flag true" in out and "port 8080" in out
    assert "user postgres" in out and out.endswith(" abc")


def test_a_registered_secret_is_also_masked_percent_encoded() -> None:
    with own_secrets():
        register_secret("p@ss:w/rd-42")
        assert redact("dsn postgresql://app:p%40ss%3Aw%2Frd-42@db/x and p@ss:w/rd-42") == (
            "dsn postgresql://app:***@db/x and ***")


def test_values_under_secret_keys_are_masked_in_a_tree() -> None:
    tree = {"details": {"password": "hunter22", "token_type": "bearer", "api_key": None, "secret": "${S}"}}
    assert redact_tree(tree) == {"details": {"password": "***", "token_type": "bearer", "api_key": None,
                                             "secret": "${S}"}}


SECRET_TEXT = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e), min_size=6, max_size=24)


@settings(max_examples=200, deadline=None)
@given(secret=SECRET_TEXT.filter(lambda s: redact_module._maskable(s)),
       before=st.text(max_size=20), after=st.text(max_size=20))
def test_a_registered_secret_never_survives(secret: str, before: str, after: str) -> None:
    with own_secrets():
        register_secret(secret)
        assert secret not in redact(before + secret + after)


PASSWORD_CHARS = st.characters(blacklist_characters="@/:", max_codepoint=0x2FF,
                               blacklist_categories=("Cc", "Zs", "Zl", "Zp"))


@given(st.text(alphabet=PASSWORD_CHARS, min_size=1, max_size=30))
def test_any_url_password_disappears(password: str) -> None:
    assert redact(f"postgresql://user:{password}@host/db") == "postgresql://user:***@host/db"


def test_terminal_safe_removes_escapes_and_controls_but_keeps_text() -> None:
    hostile = "a\x1b[31mred\x1b[0m b\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\ c\rd\x07e\tf\n"
    assert terminal_safe(hostile) == "ared blink cde\tf\n"


@pytest.mark.parametrize(("text", "expected"), [
    ("\x1bP1$r0m\x1b\\ok", "ok"),                 # DCS string, content and all
    ("\x1b_hidden\x1b\\ok", "ok"),                # APC
    ("\x1b(B\x1b7\x1bcok", "ok"),                 # charset, save cursor, full reset
    ("\x9b31mok", "31mok"),                       # 8-bit CSI: the introducer goes, the rest is text
    ("\u202eYDAER :TCIDREV", "YDAER :TCIDREV"),   # right-to-left override
    ("ok\ud800", "ok"),                           # a lone surrogate cannot be printed
    ("\x1b]0;title\x07ok", "ok"),                 # window title
])
def test_terminal_safe_other_sequences(text: str, expected: str) -> None:
    assert terminal_safe(text) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(["\x1b", "[", "]", "P", "\\", "\x07", "\x9b", "\x9d", "\u202e", "3",
                                         "1", "m", ";", "a", "\n", "\t", "\r", "\x00", "\x7f"]), max_size=60))
def test_terminal_safe_leaves_no_control_character(text: str) -> None:
    out = terminal_safe(text)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", out)


def test_one_line_flattens_line_breaks() -> None:
    assert one_line("ok\n\x1b[32mVERDICT: READY\x1b[0m\u2028x\r\n") == "ok VERDICT: READY x"


def test_masking_a_rendered_report_again_keeps_its_markup() -> None:
    rendered = '<pre class="mono">x\npassword: ***</pre></details><td>token: ***</td><p>Authorization: Bearer ***</p>'
    assert redact(rendered) == rendered
    assert redact("<pre>\npassword: hunter2</pre>") == "<pre>\npassword: ***</pre>"


TOKENS = st.sampled_from(["password", "token", "api_key", "PGPASSWORD", "Authorization", "Bearer", ":", "=", " ",
                          "\n", '"', "'", "x1", "hunter22", "***", "<b>", "</pre>", "#", "-", "://", "@", "&", "?"])


@settings(max_examples=300, deadline=None)
@given(st.lists(TOKENS, max_size=14).map("".join))
def test_masking_again_keeps_every_tag(text: str) -> None:
    # write_all masks each rendered report once more: that must never eat the report's markup.
    once = redact(text)
    assert re.findall(r"<[^<>]*>", redact(once)) == re.findall(r"<[^<>]*>", once)


def test_a_variable_that_is_not_utf8_is_still_masked() -> None:
    with own_secrets():
        register_environment({"ODD_TOKEN": "tok-\udcff-bytes"})  # how os.environ holds undecodable bytes
        assert redact("value tok-\udcff-bytes and tok-%FF-bytes") == "value *** and ***"


def test_a_secret_cut_short_by_a_length_cap_is_masked_at_the_end() -> None:
    from pipeline.redact import redact, register_secret

    secret = register_secret("s3cr3t-cut-in-half-2d9f")
    message = f"connection failed for token {secret}"
    assert "s3cr3t" not in redact(message[:40] + "…")
    assert redact(message[:40] + "…").endswith("***…")
    assert redact("a normal ending") == "a normal ending"


def test_an_object_named_like_a_secret_is_structure_and_stays_valid_json() -> None:
    # Every FastAPI app with an OAuth2 password login has this schema; masking its "{" broke the kept spec.
    spec = {"components": {"schemas": {"Body_login-login_access_token": {"properties": {"password": {
        "type": "string"}}}, "access_tokens": ["a", "b"]}}, "token": "s3cr3t-value-1"}
    masked = redact(json.dumps(spec))
    assert json.loads(masked)["components"]["schemas"]["Body_login-login_access_token"] == {
        "properties": {"password": {"type": "string"}}}
    assert "s3cr3t-value-1" not in masked and json.loads(masked)["token"] != "s3cr3t-value-1"
