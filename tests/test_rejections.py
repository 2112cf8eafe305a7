"""Refusals are behaviour too: negative cases (tag `rejects`) record the oracle's exception,
the runner judges an IUT's refusal against it, and the reference refuses the same."""

from __future__ import annotations

import json

import pytest

import models
from conformance import describe, diff, runner
from conformance.cli import main
from conformance.contract import load
from conformance.golden import GoldenStore
from conformance.outcome import CONFORM, DIFFER, REJECTS
from conformance.plan import Plan, PlanFormatError, parse_text

CONV_TRANSPOSE_ONEDNN = "zoo/onednn/nn.ConvTranspose2d/onednn-static"
PER_CHANNEL = "AssertionError: Per channel weight observer is not supported yet for ConvTranspose{n}d."


def _negative_ids():
    return [c.id for c in models.all_cases() if REJECTS in c.tags]


def _case(case_id):
    return next(c for c in models.all_cases() if c.id == case_id)


def test_a_rejection_plan_round_trips_and_holds_nothing_else():
    plan = Plan(rejection=("AssertionError", "qconfig_mapping must be a QConfigMapping"))
    text = plan.to_text({"case": "x"})
    assert "[rejection]\nexception = AssertionError\nmessage = qconfig_mapping must be a QConfigMapping\n" in text
    assert parse_text(text)[1] == plan
    broken = text.replace("exception = AssertionError\n", "")
    with pytest.raises(PlanFormatError, match="body does not match|rejection"):
        parse_text(broken)


def test_messages_are_normalised():
    class Thing:
        pass

    exc = ValueError(f"bad {Thing()} in /usr/lib/python3/site-packages/torch/x.py\nsecond line")
    assert describe.exception_class(exc) == "ValueError"
    assert describe.exception_message(exc) == "bad <...> in x.py"
    fused = NotImplementedError("Cannot fuse train modules: (Conv2d(4, 4, kernel_size=(1, 1)), BatchNorm2d(4, eps=1e-05, "
                                "bias=True), <built-in method add of type object at 0x7f3a2b1c>)")
    assert describe.exception_message(fused) == "Cannot fuse train modules: (Conv2d(...), BatchNorm2d(...), <...>)"
    long = describe.exception_message(AssertionError("x" * 1000))
    assert len(long) == describe.MAX_MESSAGE + 3 and long.endswith("...")


@pytest.mark.parametrize("expected, actual, match, line", [
    (("AssertionError", "no"), ("AssertionError", "no, and more"), "message", None),
    (("AssertionError", "no"), None, "message", "accepts what the oracle rejects: AssertionError: no"),
    (None, ("AssertionError", "no"), "message", "rejects what the oracle accepts: AssertionError: no"),
    (("AssertionError", "no"), ("RuntimeError", "no"), "message",
     "rejects differently: AssertionError: no != RuntimeError: no"),
    (("AssertionError", "no"), ("AssertionError", "yes"), "message",
     "rejects differently: AssertionError: no != AssertionError: yes"),
    (("AssertionError", "no"), ("AssertionError", "yes"), "class", None),
    (("AssertionError", "no"), ("RuntimeError", "no"), "class",
     "rejects differently: AssertionError: no != RuntimeError: no"),
    (("AssertionError", "x" * 20 + "..."), ("AssertionError", "x" * 30), "message", None),
])
def test_refusals_are_judged(expected, actual, match, line):
    accepted = Plan(graph=("x = placeholder x",))
    got = diff.compare(Plan(rejection=expected) if expected else accepted,
                       Plan(rejection=actual) if actual else accepted, rejections=match)
    assert got == ([line] if line else [])


def test_list_tag_rejects_names_every_negative_case(capsys):
    assert main(["list", "--tag", REJECTS]) == 0
    listed = capsys.readouterr().out.split()
    assert listed == sorted(_negative_ids())
    assert CONV_TRANSPOSE_ONEDNN in listed and "patterns/embedding/x86-qat" in listed
    assert any(i.startswith("negative/") for i in listed)
    assert not [i for i, _ in models.excluded() if "the oracle rejects it" in _]


def test_every_negative_golden_is_a_rejection():
    store = GoldenStore()
    for case_id in _negative_ids():
        assert store.load(case_id).rejection is not None, case_id


def test_the_conv_transpose_onednn_golden_records_the_refusal():
    plan = GoldenStore().load(CONV_TRANSPOSE_ONEDNN)
    assert plan.rejection == ("AssertionError", PER_CHANNEL.split(": ", 1)[1])


def test_the_reference_refuses_as_the_oracle_does(capsys):
    assert main(["run", "--impl", "reference", "--tag", REJECTS, "-j", "1", "--quiet-progress"]) == 0
    n = len(_negative_ids())
    assert capsys.readouterr().out.strip().endswith(f"negative cases: {n} of {n} refused as the oracle refuses")


POSITIVE_SAMPLE = ["patterns/embedding/x86-static", "zoo/onednn/nn.ConvTranspose2d/onednn-qat",
                   "zoo/x86/nnqat.Embedding/x86-qat", "standalone/by-name/x86-static", "rules/quantized-io/x86-static"]


def test_an_iut_that_never_refuses_fails_exactly_the_negative_cases(tmp_path):
    main(["run", "--impl", "tests.planted:never_refuses", "--tag", REJECTS, "-j", "1", "--quiet-progress",
          "--json", str(tmp_path / "neg.json")])
    negative = {c["id"]: c for c in json.loads((tmp_path / "neg.json").read_text())["cases"]}
    assert set(negative) == set(_negative_ids())
    for case_id, entry in negative.items():
        assert entry["status"] == DIFFER and len(entry["differences"]) == 1, entry
        assert entry["differences"][0].startswith("accepts what the oracle rejects: "), entry
    assert negative[CONV_TRANSPOSE_ONEDNN]["differences"] == [f"accepts what the oracle rejects: {PER_CHANNEL}"]
    for case_id in POSITIVE_SAMPLE:
        outcome = runner.run_case(_case(case_id), load("tests.planted:never_refuses"), GoldenStore())
        assert outcome.status == CONFORM, outcome.report()


def test_an_iut_that_refuses_with_another_class_names_both(tmp_path):
    main(["run", "--impl", "tests.planted:refuses_with_another_class", "--tag", REJECTS, "-j", "1",
          "--quiet-progress", "--json", str(tmp_path / "neg.json")])
    negative = {c["id"]: c for c in json.loads((tmp_path / "neg.json").read_text())["cases"]}
    assert set(negative) == set(_negative_ids())
    for entry in negative.values():
        assert entry["status"] == DIFFER and len(entry["differences"]) == 1, entry
        line = entry["differences"][0]
        assert line.startswith("rejects differently: ") and " != RuntimeError: " in line, entry
        assert "detail" in entry  # the IUT's traceback, for --tb


def test_an_iut_in_its_own_words_conforms_by_class_when_it_asks():
    case = _case(CONV_TRANSPOSE_ONEDNN)
    store = GoldenStore()
    strict = runner.run_case(case, load("tests.planted:refuses_in_its_own_words"), store)
    assert strict.status == DIFFER and "this configuration is not supported" in strict.differences[0]
    loose = runner.run_case(case, load("tests.planted:refuses_in_its_own_words_by_class"), store)
    assert loose.status == CONFORM, loose.report()
    saved = runner.REJECTION_MATCH
    runner.REJECTION_MATCH = "class"  # `run --rejections class`: every IUT
    try:
        assert runner.run_case(case, load("tests.planted:refuses_in_its_own_words"), store).status == CONFORM
    finally:
        runner.REJECTION_MATCH = saved


def test_a_raise_on_a_positive_case_stays_an_error():
    outcome = runner.run_case(_case("patterns/linear/x86-static"), load("tests.planted:raises"), GoldenStore())
    assert outcome.status == "error" and "planted failure" in outcome.message


def test_regen_refuses_a_negative_case_the_oracle_accepts(tmp_path, monkeypatch, capsys):
    import dataclasses

    case = _case("patterns/linear/x86-static")
    fake = dataclasses.replace(case, tags=case.tags + (REJECTS,))
    monkeypatch.setattr("conformance.cli.select", lambda *a, **k: [fake])
    main(["--golden-dir", str(tmp_path), "regen", "-k", case.id])
    out = capsys.readouterr().out
    assert f"ERROR {case.id}: a negative case (tag rejects), but the oracle accepts it" in out
    assert not list(tmp_path.rglob("*.plan"))


def test_explain_names_the_rule_that_refused(capsys):
    assert main(["explain", CONV_TRANSPOSE_ONEDNN]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"refused: {PER_CHANNEL}")
    assert "refuse_per_channel_conv_transpose: A ConvTranspose1d/2d/3d" in out and "[reference/qconfig.py" in out


def test_the_ledger_and_expectations_take_rejection_outcomes(tmp_path, capsys):
    from conformance.expectations import Expectations
    from conformance.outcome import Outcome
    from tests.test_ledger import _ledger

    accepts = f"accepts what the oracle rejects: {PER_CHANNEL}"
    ledger = _ledger('''
[[divergence]]
id = "accepts-per-channel-conv-transpose"
torch = "<2.1"
cases = ["zoo/onednn/nn.ConvTranspose*"]
outcome = "differs"
differences = ["accepts what the oracle rejects: AssertionError: Per channel weight observer*"]
change = "made up for the test"
''', "2.0.1")
    assert ledger.judge(Outcome(CONV_TRANSPOSE_ONEDNN, DIFFER, [accepts])).ok
    assert not ledger.judge(Outcome(CONV_TRANSPOSE_ONEDNN, DIFFER, [
        "rejects differently: AssertionError: Per channel ... != RuntimeError: x"])).ok

    path = tmp_path / "expect.toml"
    path.write_text(f'''
[[expect]]
cases = ["{CONV_TRANSPOSE_ONEDNN}"]
outcome = "differs"
reason = "we quantize ConvTranspose per channel"
differences = ["{accepts}"]
''')
    assert Expectations.load(str(path)).judge(Outcome(CONV_TRANSPOSE_ONEDNN, DIFFER, [accepts])).ok
    assert main(["run", "--impl", "tests.planted:never_refuses", "-k", CONV_TRANSPOSE_ONEDNN, "-j", "1",
                 "--quiet-progress", "--expectations", str(path)]) == 0
    assert "1 expected" in capsys.readouterr().out
