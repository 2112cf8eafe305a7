"""The plan is complete for convert: each item of docs/convert-inventory.md the plan records,
dropped or changed by a planted implementation (placement untouched), is exactly one
difference in a plain run and exactly one with --convert; the reference converts as the
oracle does; and the CLI says what --convert skips."""

from __future__ import annotations

import pytest

import models
from conformance import runner
from conformance.contract import Implementation, load
from conformance.golden import GoldenStore
from conformance.outcome import CONFORM, DIFFER, SKIPPED
from tests import planted

# planted IUT, case, what the plain run's one line says, what the --convert line says
STATE_FAULTS = [
    ("forgets_weight_indexes", "patterns/functional-linear/x86-dynamic",
     "weight and bias arguments of linear (target_dtype_info): weight arg 1, bias arg 2 != none", "scale"),
    ("forgets_preserved_attributes_meta", "rules/preserved-attributes/x86-static",
     "preserved attributes differ: label_names:", "attribute"),
    ("root_scope_everywhere", "rules/mixed-mapping/x86-mixed", "node scopes (node_name_to_scope) differ:", "convert"),
    ("forgets_quantized_inputs", "rules/quantized-io/x86-static",
     "convert state input_quantized_indexes: [0] != []", "convert"),
    ("stores_an_empty_mapping", "patterns/linear/x86-static", "convert state qconfig_mapping:",
     "convert (convert_fx(qconfig_mapping)): converts != raises AssertionError"),
    ("module_qconfig_none", "patterns/linear/x86-static", "qconfig attribute of {linear} differs", "convert"),
    ("forgets_observed_linear", "patterns/linear/x86-static", "convert state observed_node_names: missing linear",
     "convert"),
    ("linear_node_qconfig_none", "patterns/linear/x86-static", "qconfig of {linear} differs", "convert"),
    ("flips_is_qat", "rules/qat-by-type-unfused/x86-qat-by-type", "convert state is_qat: True != False", "convert"),
    ("forgets_equalization", "rules/equalization-of-modules/x86-equalization",
     "equalization qconfig of", "convert"),
    ("standalone_forgets_output_quantized", "standalone/output-quantized/x86-static",
     "in standalone module", "convert"),
    ("forgets_quantized_outputs", "rules/quantized-io/x86-static",
     "convert state output_quantized_indexes:", "convert"),
    ("standalone_not_marked", "standalone/by-name/x86-static",
     "in standalone module sub: convert state is_observed_standalone_module: True != False", "convert"),
    # the placement items of the inventory, for --convert too
    ("drop_one_observer", "patterns/linear/x86-static", "missing observer on x -> linear", "convert"),
    ("split_first_shared_observer", "patterns/cat/x86-static", "sharing differs", "convert"),
    ("qat_linear_back_to_float", "patterns/linear/x86-qat", "module swap differs at linear", "convert"),
    ("narrow_weight_fake_quant", "patterns/linear/x86-qat", "observer inside module linear.weight_fake_quant:", "convert"),
    ("relu_becomes_hardtanh", "patterns/functional-linear/x86-static", "graph rewired: relu:", "convert"),
]


def _case(case_id):
    return next(c for c in models.all_cases() if c.id == case_id)


def _outcome(case_id, impl, convert):
    saved = runner.CONVERT
    runner.CONVERT = convert
    try:
        return runner.run_case(_case(case_id), impl, GoldenStore())
    finally:
        runner.CONVERT = saved


@pytest.mark.parametrize("name, case_id, plain, converted", STATE_FAULTS, ids=[f[0] for f in STATE_FAULTS])
def test_each_state_fault_is_one_difference_plain_and_converted(name, case_id, plain, converted):
    impl = Implementation(f"tests.planted:{name}", getattr(planted, name))
    outcome = _outcome(case_id, impl, convert=False)
    assert outcome.status == DIFFER and len(outcome.differences) == 1, outcome.report()
    assert plain in outcome.differences[0], outcome.report()

    outcome = _outcome(case_id, impl, convert=True)
    convert_lines = [d for d in outcome.differences if d.startswith("convert (")]
    assert len(convert_lines) == 1, outcome.report()
    assert converted in convert_lines[0], outcome.report()
    assert outcome.differences[0].startswith(plain[:20]), outcome.report()  # the plan's own line stays


def test_reproducer_dynamic_functional_linear_weight_scale():
    """The issue's reproducer: the reference's converted dynamic F.linear has the oracle's weight scale."""
    import torch
    import torch.nn.functional as F
    from torch.ao.quantization import QConfigMapping, default_dynamic_qconfig
    from torch.ao.quantization.quantize_fx import convert_to_reference_fx

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.rand(3, 3))

        def forward(self, x):
            return F.linear(x, self.weight)

    scales = []
    for name in ("torch", "reference"):
        torch.manual_seed(0)
        gm = load(name).prepare(M().eval(), QConfigMapping().set_global(default_dynamic_qconfig), (torch.rand(2, 3),))
        scales.append(float(convert_to_reference_fx(gm)._scale_0))
    assert scales[0] == scales[1] != 1.0


@pytest.mark.parametrize("case_id", [
    "patterns/functional-linear/x86-dynamic", "patterns/functional-linear/x86-qat", "rules/preserved-attributes/x86-qat",
    "rules/parametrized-weights/x86-qat-linear-float", "rules/equalization/x86-equalization",
    "rules/equalization-of-modules/x86-equalization",
    "lstm/cat-with-lstm/x86-static", "standalone/output-quantized/x86-qat",
    # the pt2e path: convert_pt2e, folded and not, calibrated and not
    "pt2e/ops/conv_bn_relu/xnnpack-static", "pt2e/ops/conv_bn_relu/xnnpack-qat", "pt2e/ops/linear/xnnpack-dynamic",
    "pt2e/ops/x86-conv2d_add_relu/x86-inductor-static", "pt2e/annotations/derived-bias/annotation-static",
    "pt2e/annotations/shared-chain/annotation-qat", "pt2e/annotations/fixed-qparams/annotation-static",
])
def test_reference_converts_as_the_oracle(case_id):
    if not any(c.id == case_id for c in models.all_cases()):
        pytest.skip(f"{case_id} is not in this corpus")
    outcome = _outcome(case_id, load("reference"), convert=True)
    assert outcome.status == CONFORM, outcome.report() + "\n" + outcome.detail


def test_a_pt2e_fault_is_a_convert_pt2e_difference_too():
    """A pt2e IUT that leaves the derived bias edge unobserved: one plan line, and
    convert_pt2e's models differ where the bias is quantized (the oracle's) or kept
    float (the IUT's)."""
    impl = load("tests.planted:pt2e_ignores_derived_specs")
    case_id = "pt2e/annotations/derived-bias/annotation-static"
    plain = _outcome(case_id, impl, convert=False)
    assert plain.status == DIFFER and len(plain.differences) == 1, plain.report()
    converted = _outcome(case_id, impl, convert=True)
    lines = [d for d in converted.differences if d.startswith("convert (")]
    assert converted.differences[0] == plain.differences[0], converted.report()
    assert len(lines) == 1 and lines[0].startswith("convert (convert_pt2e): "), converted.report()
    assert "also after convert_pt2e(fold_quantize=False), convert_pt2e, uncalibrated" in lines[0], converted.report()


def test_meta_device_cases_are_skipped_with_the_reason():
    case_id = next(c.id for c in models.all_cases() if c.recipe.meta)
    outcome = _outcome(case_id, load("reference"), convert=True)
    assert outcome.status == SKIPPED and "meta device" in outcome.message


def test_compare_names_each_model_apart():
    """conformance.compare names every model compare/model: the second model compared in one
    process must get its own node names, not the first one's."""
    import torch

    from conformance import compare

    class A(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 1)

        def forward(self, x):
            return self.conv(x)

    class B(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 4)

        def forward(self, x):
            return torch.relu(self.fc(x)) + 1

    assert compare(A(), (torch.randn(1, 3, 4, 4),), impl="reference") == []
    assert compare(B(), (torch.randn(2, 4),), impl="reference") == []
    # and a planted fault on the second is still seen, named by the second model's nodes
    found = compare(B(), (torch.randn(2, 4),), impl=Implementation("planted", planted.drop_one_observer))
    assert found and "x -> fc" in found[0], found


def test_the_cli_says_what_convert_skipped_and_why(capsys):
    from conformance.cli import main

    meta_case = next(c.id for c in models.all_cases() if c.recipe.meta)
    code = main(["run", "--impl", "reference", "--convert", "-j", "1", "--quiet-progress",
                 "-k", meta_case, "-k", "patterns/linear/x86-static", "-k", "rules/shapes/x86-static"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "1 conform, 0 differ, 0 error, 2 skipped" in out
    assert "    1 skipped: --convert: built on the meta device" in out
    assert "    1 skipped: --convert: the oracle's prepared model cannot run on the example inputs" in out
