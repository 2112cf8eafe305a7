"""The golden store writes atomically and never loses a golden; skips cost one case."""

import os

import pytest

from conformance.contract import ORACLE
from conformance.golden import GoldenStore
from conformance.runner import SKIPPED, run_case
from models import Case, PRESETS, Recipe, SkipCase


def test_interrupted_write_keeps_the_old_golden_and_leaves_no_temp_file(tmp_path, monkeypatch):
    store = GoldenStore(tmp_path)
    store.write("family/recipe/preset", "old\n")

    def crash(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        store.write("family/recipe/preset", "new\n")
    assert store.read_text("family/recipe/preset") == "old\n"
    assert [p.name for p in (tmp_path / "family/recipe").iterdir()] == ["preset.plan"]


def test_a_case_that_cannot_be_built_here_is_skipped_with_its_reason(tmp_path):
    def unavailable():
        raise SkipCase("needs torchvision >= 9.9")

    case = Case(Recipe("family", "recipe", unavailable, lambda: ()), PRESETS["x86-static"])
    outcome = run_case(case, ORACLE, GoldenStore(tmp_path))  # no golden needed to skip
    assert outcome.status == SKIPPED
    assert outcome.report() == "SKIPPED family/recipe/x86-static: needs torchvision >= 9.9"
