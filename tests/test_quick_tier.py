"""The quick tier: chosen by a greedy cover of the strength run's kills, kept current
with the installed prepare.py and the corpus, and run by `obsconf run --quick`."""

import re
from pathlib import Path

import pytest

from conformance import index, mutants, quick
from conformance.cli import main
from conformance.reports import backend_of, family_of

ROOT = Path(__file__).resolve().parent.parent


def test_choose_covers_the_kills_greedily_then_each_family_backend_and_rule():
    killers = {"m1": "zoo/a/x86-static", "m2": "zoo/a/x86-static", "m3": "patterns/b/x86-static",
               "m4": "zoo/c/qnnpack-static"}
    seconds = {"zoo/a/x86-static": 0.1, "patterns/b/x86-static": 0.2, "zoo/c/qnnpack-static": 0.3,
               "rules/d/x86-qat": 0.5, "rules/e/x86-qat": 0.4, "lstm/f/onednn-static": 9.0}
    rules = {"rules/d/x86-qat": {"shared"}, "zoo/a/x86-static": {"input", "output"}}
    picked, unused = quick.choose(killers, seconds, lambda c: rules.get(c, set()),
                                  ["input", "output", "shared", "graph-output"])
    chosen = dict(picked)
    assert unused == ["graph-output"]  # no case uses it: said, not hidden
    assert chosen["zoo/a/x86-static"] == ["kills m1 m2"]
    assert chosen["patterns/b/x86-static"] == ["kills m3"] and chosen["zoo/c/qnnpack-static"] == ["kills m4"]
    assert chosen["rules/e/x86-qat"] == ["family rules"]  # the cheaper of the two
    assert chosen["lstm/f/onednn-static"] == ["family lstm"]
    assert chosen["rules/d/x86-qat"] == ["rule shared"]
    assert len(chosen) == 6


@pytest.fixture(scope="module")
def tier():
    return quick.read()


def test_the_quick_tier_is_for_the_installed_prepare(tier):
    header, _ = tier
    source = mutants.source_path().read_text()
    assert header["digest"] == mutants.source_digest(source), \
        "prepare.py changed: run a full `obsconf strength` to choose the quick tier again"


def test_it_names_every_killed_mutant_once_and_as_many_as_the_strength_report(tier):
    header, reasons = tier
    killed = quick.killed_by(reasons)
    ids = {m.id for m in mutants.generate(mutants.source_path().read_text())}
    assert set(killed) <= ids
    assert len(killed) == int(header["killed"])
    report = (ROOT / "docs" / "strength.md").read_text()
    assert re.search(rf"\*\*\d+ mutants: {len(killed)} killed,", report)


def test_it_holds_cases_of_the_corpus_and_every_family_and_backend(tier):
    _, reasons = tier
    ids = [i for i, _ in index.entries()]
    assert set(reasons) <= set(ids)
    assert {family_of(i) for i in reasons} == {family_of(i) for i in ids}
    assert {backend_of(i) for i in reasons} == {backend_of(i) for i in ids}


def test_it_uses_every_rule_of_the_reference_that_some_case_uses(tier):
    """The file says which rules no case of the corpus uses (the strength run looked at
    every case); the tier's cases use all the others."""
    import reference
    import reference.pt2e
    from models import all_cases

    header, reasons = tier
    used = set()
    for case in (c for c in all_cases() if c.id in reasons):
        used |= quick.reference_rules(case)
    assert used | set(header["unused rules"]) == set(reference.RULES) | set(reference.pt2e.RULES)
    assert not used & set(header["unused rules"])


def test_list_and_run_quick(capsys, tier):
    _, reasons = tier
    assert main(["list", "--quick"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == sorted(reasons)
    assert main(["run", "--impl", "reference", "--quick", "-k", "patterns/", "--quiet-progress", "-j", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("quick tier: ") and out[-1].endswith("(quick tier)")


def test_a_missing_quick_tier_is_one_usage_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(quick, "FILE", tmp_path / "none.txt")
    assert main(["list", "--quick"]) == 2
    assert "none.txt: no quick tier" in capsys.readouterr().err
