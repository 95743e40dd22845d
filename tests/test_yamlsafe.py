"""Foreign YAML: an alias bomb is refused at once; anchors reused a few times and big documents load."""

from __future__ import annotations

import time

import pytest
import yaml

from pipeline import yamlsafe
from pipeline.errors import ParseError
from tests.fuzzing import alias_bomb


def test_an_alias_bomb_is_refused_at_once_naming_the_file() -> None:
    anchors, alias = alias_bomb()
    started = time.monotonic()
    expected = r"bomb.yaml: line 1: YAML aliases expand it to 926,177,115 values from 29; refused"
    with pytest.raises(ParseError, match=expected):
        yamlsafe.load(f"{anchors}\nboom: {alias}\n", "bomb.yaml")
    assert time.monotonic() - started < 2


def test_a_self_referring_alias_is_refused() -> None:
    with pytest.raises(ParseError, match="a YAML alias refers to itself"):
        yamlsafe.load("a: &a [1, *a]\n", "loop.yaml")


def test_anchors_reused_within_the_budget_load_as_copies() -> None:
    anchors, alias = alias_bomb(levels=5)  # 9**5 = 59,049 values: a generous spec, not a bomb
    document = yamlsafe.load(f"{anchors}\nuse: {alias}\n", "ok.yaml")
    assert len(document["use"]) == 9 and document["use"][0][0][0][0] == ["x"] * 9


def test_the_budget_is_on_what_aliases_add_not_on_the_document_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlsafe, "MAX_ALIAS_EXPANSION", 1_000)
    big = yaml.safe_dump({f"k{i}": [i, "*"] for i in range(2_000)})  # 8,000 values, a '*' but no alias
    assert len(yamlsafe.load(big, "big.yaml")) == 2_000
    anchors, alias = alias_bomb(levels=4)  # aliases add 7,000 values
    with pytest.raises(ParseError, match="refused"):
        yamlsafe.load(f"{anchors}\nuse: {alias}\n", "over.yaml")


@pytest.mark.parametrize("text", ["", "# only a comment\n"])
def test_an_empty_document_is_none(text: str) -> None:
    assert yamlsafe.load(text, "empty.yaml") is None


def test_not_yaml_is_left_to_the_caller() -> None:
    with pytest.raises(yaml.YAMLError):
        yamlsafe.load("a: [1, 2\n", "bad.yaml")
