"""The corpus as pytest items: the implementation chosen with --impl against every
golden (`python -m pytest tests/test_conformance.py --impl mypkg.prepare:prepare`)."""

import pytest

from conformance.runner import CONFORM, SKIPPED, run_case


def test_case_conforms(obsconf_case, obsconf_impl, golden_store):
    outcome = run_case(obsconf_case, obsconf_impl, golden_store)
    if outcome.status == SKIPPED:
        pytest.skip(outcome.message)
    assert outcome.status == CONFORM, outcome.report()
