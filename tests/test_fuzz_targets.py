"""Every parser of foreign input, fuzzed: mutated real-shaped documents and random bytes give a result
or one of the gate's typed errors (``CheckError`` and its family), never anything else.

The parsers and their seeds are the table in fuzz/targets.py, which the atheris harness
(fuzz/run.py) fuzzes for longer. The budget scales with READINESS_FUZZ_EXAMPLES.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fuzz.targets import TARGETS, Target, only_typed_errors
from tests.fuzzing import fuzz, mutated_bytes, nested_bytes

PARSERS = [pytest.param(target, id=target.name) for target in TARGETS]


@pytest.mark.parametrize("target", PARSERS)
def test_every_seed_is_a_valid_document(target: Target) -> None:
    for seed in target.seeds:
        assert target.read(seed) is not None  # mutations start from documents the parser accepts


@pytest.mark.parametrize("target", PARSERS)
@fuzz(150)
@given(data=st.data())
def test_mutated_documents_give_a_result_or_a_typed_error(target: Target, data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(target.seeds), label="seed")
    only_typed_errors(target, data.draw(mutated_bytes(seed), label="input"))


@pytest.mark.parametrize("target", PARSERS)
@fuzz(15)
@given(data=st.data())
def test_deeply_nested_documents_give_a_result_or_a_typed_error(target: Target, data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(target.seeds), label="seed")
    only_typed_errors(target, data.draw(nested_bytes(seed), label="input"))


@pytest.mark.parametrize("target", PARSERS)
@fuzz(60)
@given(raw=st.binary(max_size=400))
@example(raw=b"")
def test_random_bytes_give_a_result_or_a_typed_error(target: Target, raw: bytes) -> None:
    only_typed_errors(target, raw)
