"""prepare_pt2e's path: the pt2e family, its contract and the reference's annotation rules."""

from __future__ import annotations

import pytest

import models
from conformance.cli import main
from conformance.contract import ImplementationError, load
from conformance.golden import GoldenStore
from conformance.outcome import CONFORM, DIFFER, REJECTS, SKIPPED
from conformance.runner import run_case
from models import pt2e, pt2e_annotations

STORE = GoldenStore()


def _case(case_id):
    return next(c for c in models.all_cases() if c.id == case_id)


def test_every_xnnpack_annotator_has_a_pattern_model():
    from torchao.testing.pt2e._xnnpack_quantizer_utils import OP_TO_ANNOTATOR

    assert set(pt2e.XNNPACK_PATTERNS) == set(OP_TO_ANNOTATOR)


def test_every_quantizable_x86_op_has_a_pattern_model():
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as x86

    ops = x86.quantizable_ops | x86.default_quantizable_ops | x86.propagation_quantizable_ops
    assert set(pt2e.X86_OP_PATTERNS) == {str(op) for op in ops}


@pytest.mark.parametrize("name", sorted(pt2e.X86_OP_PATTERNS))
def test_each_x86_op_pattern_exports_to_its_op(name):
    recipe = next(r for r in pt2e.RECIPES if r.name == f"ops/x86-{name.split('.')[1]}")
    case = next(c for c in models.all_cases() if c.recipe is recipe)
    graph = case.materialise().model.graph
    assert name in {str(n.target) for n in graph.nodes if n.op == "call_function"}


def test_the_family_lists_every_kind(capsys):
    assert main(["list", "--family", "pt2e", "--tags"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len([c for c in models.all_cases() if c.path == "pt2e"]) >= 380
    kinds = {line.split("/")[1] for line in lines}
    assert kinds == {"ops", "vision", "annotations"}
    assert all(line.startswith("pt2e/") and "pt2e" in line.split("\t")[1].split(",") for line in lines)
    presets = {line.split("\t")[0].rsplit("/", 1)[1] for line in lines}
    assert set(pt2e.PRESETS) | {"annotation-static", "annotation-qat"} == presets


def test_every_annotation_kind_runs_under_ptq_and_qat():
    ids = {c.id for c in models.all_cases()}
    for name, (_, _, _, refuses) in pt2e_annotations.ANNOTATIONS.items():
        for preset in ("annotation-static", "annotation-qat"):
            case = _case(f"pt2e/annotations/{name}/{preset}")
            assert case.is_qat == (preset == "annotation-qat") and (REJECTS in case.tags) == refuses
    assert len([i for i in ids if i.startswith("pt2e/annotations/")]) == 2 * len(pt2e_annotations.ANNOTATIONS)


@pytest.mark.parametrize("case_id, expected", [
    ("pt2e/annotations/implicit-sharing-on/annotation-static",
     ["extra observer on conv2d -> hardtanh (arg 0) [HistogramObserver]",
      "extra observer on conv2d -> relu (arg 0) [HistogramObserver]"]),
    ("pt2e/annotations/shared-weight/annotation-qat",
     ["observer nodes differ at weight: expected weight -> {linear (arg 1), linear_1 (arg 1)}, "
      "got weight -> linear (arg 1) + weight -> linear_1 (arg 1)"]),
])
def test_without_implicit_sharing_the_shared_observers_split(case_id, expected):
    outcome = run_case(_case(case_id), load("tests.planted:pt2e_without_implicit_sharing"), STORE)
    assert outcome.status == DIFFER and outcome.differences == expected


def test_implicit_sharing_off_is_the_same_with_or_without_the_flag():
    case = _case("pt2e/annotations/implicit-sharing-off/annotation-static")
    assert run_case(case, load("tests.planted:pt2e_without_implicit_sharing"), STORE).status == CONFORM


def test_a_derived_bias_left_unobserved_is_one_missing_observer():
    case = _case("pt2e/annotations/derived-bias/annotation-static")
    outcome = run_case(case, load("tests.planted:pt2e_ignores_derived_specs"), STORE)
    assert outcome.status == DIFFER
    assert outcome.differences == ["missing observer on conv_bias -> conv2d (arg 2) [DerivedObserverOrFakeQuantize]"]


def test_the_golden_names_what_a_derived_observer_reads():
    text = STORE.path("pt2e/annotations/derived-bias/annotation-static").read_text()
    assert "[derived observers]\nobs1 = models.pt2e_annotations.bias_qparams of [obs3, obs2]\n" in text
    assert "conv_bias -> conv2d (arg 2): obs1" in text and "x -> conv2d (arg 0): obs3" in text


def test_a_quantizer_is_checked_with_the_oracle_s_prepare():
    impl = load("tests.planted:xnnpack_per_tensor_quantizer")
    assert impl.prepare is None and impl.prepare_pt2e is not None
    static = run_case(_case("pt2e/ops/linear/xnnpack-static"), impl, STORE)
    per_channel = run_case(_case("pt2e/ops/linear/xnnpack-per-channel"), impl, STORE)
    assert static.status == CONFORM
    assert per_channel.status == DIFFER
    assert per_channel.differences == [
        "observer on op0_weight -> linear (arg 1): class PerChannelMinMaxObserver != MinMaxObserver"]


def test_an_fx_only_implementation_skips_pt2e_cases_saying_why():
    outcome = run_case(_case("pt2e/ops/linear/xnnpack-static"), load("tests.planted:drop_one_observer"), STORE)
    assert outcome.status == SKIPPED
    assert "does not offer the pt2e contract" in outcome.message and "obsconf_contract" in outcome.message


def test_a_pt2e_only_implementation_skips_fx_cases():
    outcome = run_case(_case("patterns/linear/x86-static"), load("tests.planted:pt2e_without_implicit_sharing"), STORE)
    assert outcome.status == SKIPPED and "does not offer the fx contract" in outcome.message


def test_an_unknown_contract_is_a_setup_error(tmp_path, monkeypatch):
    (tmp_path / "odd_contract.py").write_text("def f(*a, **k):\n    pass\nf.obsconf_contract = 'onnx'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImplementationError, match="obsconf_contract must be one of"):
        load("odd_contract:f")


def test_the_reference_refuses_as_the_oracle_on_the_pt2e_negative_cases(capsys):
    assert main(["run", "--impl", "reference", "--family", "pt2e", "--tag", "rejects", "-j", "1",
                 "--quiet-progress"]) == 0
    out = capsys.readouterr().out
    negative = len([c for c in models.all_cases() if c.path == "pt2e" and REJECTS in c.tags])
    assert f"negative cases: {negative} of {negative} refused as the oracle refuses" in out


def test_explain_names_the_rule_and_the_annotation(capsys):
    assert main(["explain", "pt2e/annotations/shared-edge/annotation-static"]) == 0
    out = capsys.readouterr().out
    assert ("conv2d -> add (arg 0): obs3 HistogramObserver <- annotated-output [conv2d's output_qspec: "
            "QuantizationSpec]") in out
    assert "add -> output (arg 0[0]): obs0 HistogramObserver <- annotated-output [add's output_qspec: " \
           "SharedQuantizationSpec]" in out
    assert "x -> conv2d (arg 0): obs5 HistogramObserver <- annotated-input [conv2d's input_qspec_map[x]" in out
    assert "annotated-input: An argument" in out  # the rule, stated by its docstring
