"""The openapi check's typed settings, when it needs the service, and its catalogued finding ids."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline._cli import main
from pipeline.checks.openapi import FINDINGS, OpenApiCheck, OpenApiSettings, SpecParsed, evaluate_openapi
from pipeline.checks.openapi.policy import MAX_ERROR_FINDINGS
from pipeline.checks.openapi.spec import Operation, SpecError
from pipeline.config import ConfigError
from pipeline.gate import target_checks
from pipeline.model import Status
from pipeline.runner import run_check
from tests.conftest import REPO, config_from, write_config

SPEC = json.loads((REPO / "examples" / "orders-service" / "openapi.json").read_text())
DEFAULTS = OpenApiSettings.model_validate({})


def test_defaults_are_the_documented_ones() -> None:
    assert (DEFAULTS.spec, DEFAULTS.require_responses, DEFAULTS.require_sla) == ("", ("400", "401", "500"), True)
    assert (DEFAULTS.served_spec, DEFAULTS.base_url) == (None, None)


@pytest.mark.parametrize(("section", "words"), [
    ("{spec: a.json, served: /x}", "checks.openapi: unknown key 'served'"),
    ("{require_sla: 'yes'}", "checks.openapi.require_sla"),
    ("{require_responses: '400'}", "checks.openapi.require_responses"),
    ("{spec: 5}", "checks.openapi.spec"),
])
def test_a_wrong_key_or_type_is_a_configuration_error_naming_it(tmp_path: Path, section: str, words: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match=words.replace(".", r"\.")):
        config_from(tmp_path, f"version: 1\nchecks:\n  openapi: {section}\n")
    path = write_config(tmp_path, f"version: 1\nchecks:\n  openapi: {section}\n")
    assert main(["check", "openapi", "--config", str(path), "--reports-dir", str(tmp_path / "r")]) == 3
    assert words in capsys.readouterr().err


@pytest.mark.parametrize(("section", "wanted"), [
    ({"spec": "openapi.json"}, False),
    ({"spec": "openapi.json", "served_spec": "/openapi.json"}, True),
    ({"spec": "openapi.json", "served_spec": "https://staging.example.com/openapi.json"}, True),
    ({"spec": "openapi.json", "served_spec": ""}, False),
    ({"spec": "http://127.0.0.1:8000/openapi.json"}, True),
    ({"spec": "https://localhost/openapi.json"}, True),
    ({"spec": "http://[::1]:9/openapi.json"}, True),
    ({"spec": "https://api.example.com/openapi.json"}, False),
    ({"spec": "127.0.0.1/openapi.json"}, False),  # a file that happens to be named so
])
def test_the_service_is_needed_exactly_when_the_check_fetches_from_it(tmp_path: Path, section: dict[str, Any],
                                                                      wanted: bool) -> None:
    assert OpenApiCheck.wants_target(OpenApiSettings.model_validate(section)) is wanted
    body = {"version": 1, "service": {"start": {"command": ["x"]}}, "checks": {"openapi": section}}
    config = config_from(tmp_path, yaml.safe_dump(body))
    assert target_checks(config, ["openapi"]) == (["openapi"] if wanted else [])


# --- finding ids: <kind>:<METHOD>:<path>, the ids this gate used before kept as aliases ---------------


def _operation(path: str, responses: tuple[str, ...] = ("400", "401", "500")) -> Operation:
    return Operation("GET", path, frozenset(responses), {"p95_ms": 100})


def test_operation_findings_are_catalogued_and_keep_the_old_id_as_alias() -> None:
    ops = (_operation("/orders/{order_id}", ("400",)), Operation("POST", "/orders", frozenset(), None))
    drift = (_operation("/gone"),)
    evaluation = evaluate_openapi(SpecParsed("spec.json", "3.1.0", (), ops, "served", (), drift), DEFAULTS)
    assert [(f.id, f.aliases) for f in evaluation.findings] == [
        ("responses:GET:/orders/{order_id}", ("GET /orders/{order_id}:responses",)),
        ("responses:POST:/orders", ("POST /orders:responses",)),
        ("sla:POST:/orders", ("POST /orders:sla",)),
        ("drift:GET:/gone", ("GET /gone:not_served",)),
    ]


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=15), st.lists(st.lists(st.text(max_size=6) | st.integers(), max_size=3), max_size=4))
def test_every_finding_id_has_a_catalogued_kind_and_no_whitespace(path: str, places: list[list[Any]]) -> None:
    errors = tuple(SpecError("#" + "".join(f"/{p}" for p in place), "bad") for place in places)
    parsed = SpecParsed("spec", "3.0.3", errors, (_operation(path, ()),), "served", (), (_operation(path),))
    for finding in evaluate_openapi(parsed, DEFAULTS).findings:
        assert finding.id.split(":", 1)[0] in FINDINGS
        assert not any(c.isspace() for c in finding.id)


def test_a_path_with_a_space_is_percent_encoded_in_the_id() -> None:
    parsed = SpecParsed("spec", "3.0.3", (), (_operation("/a b/100%", ()),))
    (finding,) = evaluate_openapi(parsed, DEFAULTS).findings
    assert finding.id == "responses:GET:/a%20b/100%25" and finding.aliases == ("GET /a b/100%:responses",)


def test_spec_errors_are_one_finding_per_place_and_past_the_limit_one_for_the_rest() -> None:
    errors = (SpecError("#/info", "'title' is a required property"), SpecError("#/info", "'version' is required"),
              *(SpecError(f"#/paths/~1p{i}", "bad") for i in range(MAX_ERROR_FINDINGS + 2)))
    evaluation = evaluate_openapi(SpecParsed("spec", "3.0.3", errors, (_operation("/x"),)), DEFAULTS)
    assert evaluation.status is Status.FAIL
    first, *_, last = evaluation.findings
    assert first.id == "invalid-spec:#/info" and "title" in first.title and "version" in first.title
    assert len(evaluation.findings) == MAX_ERROR_FINDINGS + 1
    assert last.id == "invalid-spec:more" and "3 more place(s)" in last.title


@pytest.mark.parametrize("waiver_id", ["responses:GET:/orders", "GET /orders:responses"])
def test_a_waiver_with_the_new_or_the_old_id_matches(tmp_path: Path, waiver_id: str) -> None:
    spec = copy.deepcopy(SPEC)
    del spec["paths"]["/orders"]["get"]["responses"]["401"]
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    body = {"version": 1, "checks": {"openapi": {"spec": "spec.json"}},
            "waivers": [{"check": "openapi", "id": waiver_id, "reason": "tracked in JIRA-1", "owner": "ann",
                         "expires": "2999-12-31"}]}
    result = run_check("openapi", config_from(tmp_path, yaml.safe_dump(body)), tmp_path / "reports", tmp_path)
    assert result.status is Status.WAIVED, result.reasons
    (finding,) = result.findings
    assert finding.waived_by == waiver_id and finding.remediation == FINDINGS["responses"].remediation
