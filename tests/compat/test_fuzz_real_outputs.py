"""The real tool outputs in ../shared/fixtures/real, mutated: every parser answers with a result or one
of the gate's typed errors (the parsers and the rule: fuzz/targets.py; with synthetic seeds:
tests/test_fuzz_targets.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzz.targets import BY_NAME, only_typed_errors
from tests.fuzzing import fuzz, mutated_bytes

# Which real outputs each parser reads (globs under ../shared/fixtures/real).
REAL_OUTPUTS = {
    "cobertura": ["coverage/cobertura/*.xml"],
    "junit": ["junit/*/*.xml"],
    "lcov": ["coverage/lcov/*"],
    "zap-json": ["zap/json/*.json"],
    "zap-xml": ["zap/xml/*.xml"],
    "zap-rules": ["zap/baseline-rules/*"],
    "k6-summary": ["k6/*/*.json"],
    "osv-record": ["osv/pypa-advisory-database/vulns/requests/*.yaml", "osv/pypa-advisory-database/vulns/urllib3/*"],
    "pip-audit": ["pip-audit/*.json"],
    "npm-audit": ["npm-audit/*/*.json"],
    "explain-plan": ["postgres-explain/json/*", "postgres-explain/psql-wrapped-json/*"],
    "exposition": ["prometheus/exposition/*"],
    "rules": ["prometheus/rules/*.yml"],
    "grafana-dashboard": ["grafana/dashboards/*.json"],
}


@pytest.mark.parametrize("name", sorted(REAL_OUTPUTS))
@fuzz(60)
@given(data=st.data())
def test_mutated_real_outputs_give_a_result_or_a_typed_error(shared_fixtures: Path, name: str,
                                                              data: st.DataObject) -> None:
    files = sorted(p for pattern in REAL_OUTPUTS[name] for p in shared_fixtures.glob(pattern) if p.is_file())
    assert files, f"no real output for {name} in {shared_fixtures}"
    real = data.draw(st.sampled_from(files), label="real output")
    only_typed_errors(BY_NAME[name], data.draw(mutated_bytes(real.read_bytes()), label="input"))
