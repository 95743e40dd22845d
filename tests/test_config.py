"""Config loading: every bad input names the file, the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config import ConfigError
from pipeline.gate import load_config
from tests.conftest import config_from, write_config

GOOD = """
version: 1
service: {name: orders, base_url: "${BASE:-http://127.0.0.1:8000}"}
checks:
  coverage: {cobertura: cov.xml, min_line_rate: 0.9}
profiles:
  release:
    checks:
      coverage: {min_line_rate: 0.95}
waivers:
  - {check: audit, id: PYSEC-1, reason: "no fix yet", owner: alice, expires: 2026-12-31}
"""


def test_defaults_are_expanded_and_local_profile_is_default(tmp_path: Path) -> None:
    config = config_from(tmp_path, GOOD)
    assert config.profile == "local"
    assert config.service["base_url"] == "http://127.0.0.1:8000"
    assert config.check_settings("coverage")["min_line_rate"] == 0.9
    assert config.waivers[0].expires.isoformat() == "2026-12-31"


def test_environment_value_wins_over_default(tmp_path: Path) -> None:
    config = config_from(tmp_path, GOOD, BASE="http://127.0.0.1:9999")
    assert config.service["base_url"] == "http://127.0.0.1:9999"


def test_release_profile_overrides_only_its_keys(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, GOOD), profile="release")
    assert config.profile == "release"
    assert config.check_settings("coverage") == {"cobertura": "cov.xml", "min_line_rate": 0.95}


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: the config file does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_unknown_key_names_the_key_path(tmp_path: Path) -> None:
    body = GOOD.replace("min_line_rate: 0.9}", "min_line_rate: 0.9, min_lines: 3}")
    with pytest.raises(ConfigError) as err:
        config_from(tmp_path, body)
    assert "readiness.yaml: checks.coverage: unknown key 'min_lines'" in str(err.value)


def test_wrong_type_names_the_key_path(tmp_path: Path) -> None:
    body = GOOD.replace("min_line_rate: 0.9}", "min_line_rate: high}")
    with pytest.raises(ConfigError, match=r"checks\.coverage\.min_line_rate: 'high' is not of type"):
        config_from(tmp_path, body)


def test_unset_variable_without_default_is_an_error(tmp_path: Path) -> None:
    body = GOOD.replace("${BASE:-http://127.0.0.1:8000}", "${READINESS_TEST_UNSET_VAR}")
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path, body), env={})
    message = str(err.value)
    assert "service.base_url" in message and "READINESS_TEST_UNSET_VAR is not set" in message


def test_empty_variable_takes_the_default(tmp_path: Path) -> None:
    config = config_from(tmp_path, GOOD, BASE="")
    assert config.service["base_url"] == "http://127.0.0.1:8000"


def test_waiver_needs_owner_reason_and_date(tmp_path: Path) -> None:
    body = GOOD.replace("owner: alice, ", "")
    with pytest.raises(ConfigError, match=r"waivers\.0: 'owner' is a required property"):
        config_from(tmp_path, body)
    body = GOOD.replace("2026-12-31", "soon")
    with pytest.raises(ConfigError, match=r"waivers\.0\.expires"):
        config_from(tmp_path, body)


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"line 3, column \d+: not valid YAML"):
        config_from(tmp_path, "version: 1\nchecks:\n  coverage: {a: [}\n")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        config_from(tmp_path, "- 1\n- 2\n")


def test_unknown_profile_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'staging' is not a profile"):
        load_config(write_config(tmp_path, GOOD), profile="staging")


def test_secret_variables_are_registered_for_redaction(tmp_path: Path) -> None:
    from pipeline.redact import redact

    body = GOOD.replace('base_url: "${BASE:-http://127.0.0.1:8000}"',
                        'base_url: "${READINESS_DATABASE_URL}"')
    config_from(tmp_path, body, READINESS_DATABASE_URL="postgresql://app:s3cr3t-pw@db/x")
    assert redact("connecting with s3cr3t-pw failed") == "connecting with *** failed"


def test_digest_changes_with_the_config(tmp_path: Path) -> None:
    first = config_from(tmp_path, GOOD).digest()
    second = config_from(tmp_path, GOOD.replace("0.9}", "0.91}")).digest()
    assert len(first) == 64 and first != second


WAIVER = "  - {check: zap, id: '10021', reason: no fix yet, owner: alice, expires: %s%s}\n"


@pytest.mark.parametrize(("body", "expected"), [
    ("version: 1\nchecks:\n  coverage: {cobertura: a.xml}\n  coverage: {cobertura: b.xml}\n",
     r"line 4, column 3: .*duplicate key 'coverage' \(first on line 3\)"),
    ("version: 1\nchecks: {}\nservice: {name: a, name: b}\n", r"line 3, .*duplicate key 'name'"),
    ("version: 1\nversion: 1\nchecks: {}\n", r"line 2, .*duplicate key 'version'"),
    ("version: 1\nchecks: {}\nwaivers:\n" + WAIVER % ("2026-02-30", ""),
     r"waivers\.0\.expires: '2026-02-30' is not a real date \(YYYY-MM-DD\) \(day is out of range"),
    ("version: 1\nchecks: {}\nwaivers:\n" + WAIVER % ("tomorrow", ""),
     r"waivers\.0\.expires: 'tomorrow' is not a real date"),
    ("version: 1\nchecks: {}\nwaivers:\n" + WAIVER % ("2026-12-31", ", url: '(['"),
     r"waivers\.0\.url: '\(\[' is not a valid regular expression \(unterminated character set"),
    ("version: 1\nchecks: {}\ndefaults: {timeout_s: .nan}\n", r"defaults\.timeout_s: nan is not a finite number"),
    ("version: 1\nchecks: {coverage: {min_line_rate: -.inf}}\n",
     r"checks\.coverage\.min_line_rate: -inf is not a finite number"),
    ("version: 1\nchecks: {}\nprofiles: {release: {defaults: {timeout_s: .Inf}}}\n",
     r"profiles\.release\.defaults\.timeout_s: inf is not a finite number"),
    ("version: 1\nchecks: {}\nprofiles: {local: 5}\n", r"profiles\.local: must be a mapping"),
    ("a: &a [*a]\n", r"line 1: a YAML alias refers to itself"),
    ("just text\n", "top level must be a mapping"),
    ("", "top level must be a mapping"),
    ("[" * 3000 + "]" * 3000, "nested too deeply"),
])
def test_bad_configs_are_clean_errors(tmp_path: Path, body: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as err:
        load_config(write_config(tmp_path, body), env={})
    assert str(err.value).startswith(str(tmp_path / "readiness.yaml"))


def test_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(ConfigError, match=r"line \d+: YAML aliases expand it to [\d,]+ values .*refused"):
        load_config(write_config(tmp_path, "\n".join(levels) + "\n"), env={})


def test_small_anchors_and_merge_keys_still_work(tmp_path: Path) -> None:
    body = ("version: 1\nchecks:\n  coverage: &cov {cobertura: a.xml, min_line_rate: 0.9}\n"
            "profiles:\n  release: {checks: {coverage: {<<: *cov, min_line_rate: 0.95}}}\n")
    config = load_config(write_config(tmp_path, body), profile="release", env={})
    assert config.check_settings("coverage") == {"cobertura": "a.xml", "min_line_rate": 0.95}


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "readiness.yaml"
    path.write_bytes(b"version: 1\nchecks: {}\nservice: {name: caf\xe9}\n")
    with pytest.raises(ConfigError, match=r"readiness\.yaml: line 3: not UTF-8 \(byte 0xe9\)"):
        load_config(path, env={})


def test_huge_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "readiness.yaml"
    path.write_bytes(b"# padding\n" * 200_000)
    with pytest.raises(ConfigError, match=r"2000000 bytes is too large for a configuration file"):
        load_config(path, env={})


def test_dates_stay_text_and_a_valid_regex_passes(tmp_path: Path) -> None:
    body = ("version: 1\nchecks: {explain: {enabled: false, timeout_s: 5}}\nwaivers:\n"
            + WAIVER % ("2026-12-31", ", url: '^http://127\\.0\\.0\\.1:8000/'"))
    config = config_from(tmp_path, body)
    assert config.data["waivers"][0]["expires"] == "2026-12-31"
    assert config.waivers[0].url == "^http://127\\.0\\.0\\.1:8000/"


def test_unnamed_secret_variables_are_masked_after_loading(tmp_path: Path) -> None:
    from pipeline.redact import redact

    config_from(tmp_path, GOOD, ACME_DEPLOY_TOKEN="dt-93kd-ZZ-x1")
    assert redact("deploying with dt-93kd-ZZ-x1") == "deploying with ***"


@pytest.mark.parametrize(("body", "expected"), [
    ("version: 1\nchecks: {}\nchecks: {}\n", "duplicate key 'checks'"),
    ("version: 1\nchecks: {coverage: {min_line_rate: .nan}}\n", "checks.coverage.min_line_rate: nan"),
    ("version: 1\nchecks: {}\nwaivers:\n" + WAIVER % ("2026-02-30", ""), "waivers.0.expires"),
])
def test_the_command_line_exits_3_without_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      body: str, expected: str) -> None:
    from pipeline._cli import main

    path = write_config(tmp_path, body)
    assert main(["check", "coverage", "--config", str(path), "--reports-dir", str(tmp_path / "r")]) == 3
    err = capsys.readouterr().err
    assert "configuration error" in err and expected in err and "Traceback" not in err
    assert str(path) in err


YAMLISH = st.lists(st.sampled_from([
    *"abc:-[]{}&*!|>'\"#,.0123456789 \n\t%@`?",
    "version: 1\n", "checks:", ".nan", ".inf", "&a ", "*a", "<<: ", "2026-02-30", "!!binary ",
    "!!python/object:os.system ", "\x00", "\ufeff", "\n  "]), max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(YAMLISH)
def test_any_text_is_a_config_or_a_config_error(body: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "readiness.yaml"
        path.write_text(body, encoding="utf-8", errors="surrogatepass")
        try:
            load_config(path, env={})
        except ConfigError as exc:
            assert str(exc).startswith(str(path))


def test_an_error_about_an_expanded_secret_does_not_show_it(tmp_path: Path) -> None:
    body = "version: 1\nchecks: {}\nwaivers:\n" + WAIVER % ("2026-12-31", ", url: '${WAIVER_URL_SECRET}'")
    with pytest.raises(ConfigError) as err:
        config_from(tmp_path, body, WAIVER_URL_SECRET="([pw-in-the-wrong-place")
    assert "waivers.0.url" in str(err.value) and "pw-in-the-wrong-place" not in str(err.value)


def test_an_error_inside_any_of_names_the_deepest_key(tmp_path: Path) -> None:
    body = "version: 1\nchecks: {}\nservice: {name: x, start: {command: [a], port: 'http'}}\n"
    with pytest.raises(ConfigError, match=r"service\.start\.port: 'http' is not of type 'integer'"):
        config_from(tmp_path, body)


# Discovery: --config, then $READINESS_CONFIG, then configs/readiness.yaml, then [tool.readiness].
PYPROJECT = """
[project]
name = "svc"

[tool.readiness]
version = 1
profile = "local"
service = {name = "from-pyproject"}
checks = {coverage = {cobertura = "cov.xml", min_line_rate = 0.9}}
waivers = [{check = "audit", id = "PYSEC-1", reason = "no fix yet", owner = "alice", expires = 2026-12-31}]

[tool.readiness.profiles.nightly]
checks = {coverage = {min_line_rate = 0.99}}
"""


def _discovery_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("READINESS_CONFIG", raising=False)
    monkeypatch.delenv("READINESS_PROFILE", raising=False)
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    write_config(tmp_path / "configs", "version: 1\nservice: {name: from-configs}\nchecks: {}\n")
    write_config(tmp_path, "version: 1\nservice: {name: from-env}\nchecks: {}\n", "env.yaml")
    write_config(tmp_path, "version: 1\nservice: {name: from-flag}\nchecks: {}\n", "flag.yaml")
    return tmp_path


def test_config_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _discovery_project(tmp_path, monkeypatch)
    env = {"READINESS_CONFIG": "env.yaml"}
    assert load_config(Path("flag.yaml"), env=env).service["name"] == "from-flag"
    assert load_config(env=env).service["name"] == "from-env"
    assert load_config(env={}).service["name"] == "from-configs"
    (tmp_path / "configs" / "readiness.yaml").unlink()
    config = load_config(env={})
    assert config.path == Path("pyproject.toml") and config.service["name"] == "from-pyproject"
    assert config.waivers[0].expires.isoformat() == "2026-12-31"  # a TOML date reads as the YAML one does


def test_pyproject_without_the_table_is_not_a_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'svc'\n")
    with pytest.raises(ConfigError, match=r"configs/readiness\.yaml: the config file does not exist"):
        load_config(env={})
    with pytest.raises(ConfigError, match=r"has no \[tool\.readiness\] table"):
        load_config(Path("pyproject.toml"), env={})
    (tmp_path / "pyproject.toml").write_text("[tool.readiness]\nversion = 1\nchecks = {}\nx = nan\n")
    with pytest.raises(ConfigError, match="nan is not a finite number"):
        load_config(Path("pyproject.toml"), env={})


def test_user_defined_profile_and_readiness_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _discovery_project(tmp_path, monkeypatch)
    (tmp_path / "configs" / "readiness.yaml").unlink()
    nightly = load_config(env={"READINESS_PROFILE": "nightly"})
    assert nightly.profile == "nightly" and nightly.check_settings("coverage")["min_line_rate"] == 0.99
    # --profile wins over the environment; release exists without being defined.
    assert load_config(profile="release", env={"READINESS_PROFILE": "nightly"}).profile == "release"
    with pytest.raises(ConfigError, match=r"'weekly' is not a profile \(defined: local, nightly, release\)"):
        load_config(env={"READINESS_PROFILE": "weekly"})


def test_an_undefined_profile_exits_3_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline._cli import main

    _discovery_project(tmp_path, monkeypatch)
    monkeypatch.setenv("READINESS_PROFILE", "weekly")
    assert main(["run", "--only", "coverage"]) == 3
    assert "'weekly' is not a profile" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()


def test_the_signoff_records_the_config_the_run_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.signoff import _config_fields

    _discovery_project(tmp_path, monkeypatch)
    monkeypatch.setenv("READINESS_CONFIG", "env.yaml")
    assert _config_fields(None)["config"]["path"] == str(tmp_path / "env.yaml")
    monkeypatch.delenv("READINESS_CONFIG")
    (tmp_path / "configs" / "readiness.yaml").unlink()
    assert _config_fields(None)["config"]["path"] == str(tmp_path / "pyproject.toml")
    (tmp_path / "pyproject.toml").unlink()
    assert _config_fields(None) == {"config_digest": None, "config": None}


def test_a_config_read_again_is_a_fresh_copy_and_a_changed_file_is_read_anew(tmp_path: Path) -> None:
    from pipeline.config import read_yaml

    path = write_config(tmp_path, GOOD)
    first = read_yaml(path)
    first["checks"]["coverage"]["min_line_rate"] = 0.1  # what a caller does with its copy stays its own
    assert read_yaml(path)["checks"]["coverage"]["min_line_rate"] == 0.9
    path.write_text(GOOD.replace("min_line_rate: 0.9}", "min_line_rate: 0.8}"))
    assert read_yaml(path)["checks"]["coverage"]["min_line_rate"] == 0.8
