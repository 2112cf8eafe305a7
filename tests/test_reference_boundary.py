"""reference/ may reuse torch's plumbing but never torch's placement logic."""

import ast
import sys
from pathlib import Path

import pytest
import torch

import reference
from models import all_cases

FORBIDDEN = (
    "torch.ao.quantization.fx.prepare",
    "torch.ao.quantization.fx.qconfig_mapping_utils",
    "torch.ao.quantization.fx.match_utils",
    "torch.ao.quantization.fx.pattern_utils",
    "torch.ao.quantization.fx.quantize_handler",
    "torch.ao.quantization.fx.utils",
    "torch.ao.quantization.quantize_fx",
    "torch.ao.quantization.quantize",  # eager propagate_qconfig_ / convert decide QAT swaps in prepare
    "torch.ao.quantization.fx._equalize",  # node_supports_equalization and friends
    # the pt2e path: prepare_pt2e and its placement, torchao's fork and torch's own (2.1 to 2.10)
    "torchao.quantization.pt2e.prepare",
    "torchao.quantization.pt2e.quantize_pt2e",
    "torch.ao.quantization.pt2e.prepare",
    "torch.ao.quantization.quantize_pt2e",
)


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, resolved to absolute dotted names."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def violations(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        for name in sorted(imported_modules(path)):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
                found.append(f"{path.relative_to(root.parent)} imports {name}")
    return found


def test_reference_imports_no_placement_logic():
    assert violations(Path(reference.__file__).parent) == []


def test_the_check_catches_a_forbidden_import(tmp_path):
    pkg = tmp_path / "fake_reference"
    pkg.mkdir()
    (pkg / "rules.py").write_text("from torch.ao.quantization.fx.prepare import prepare\nimport torch.ao.quantization.fx.match_utils\n")
    assert violations(pkg) == [
        "fake_reference/rules.py imports torch.ao.quantization.fx.match_utils",
        "fake_reference/rules.py imports torch.ao.quantization.fx.prepare",
        "fake_reference/rules.py imports torch.ao.quantization.fx.prepare.prepare",
    ]


# -- at run time: nothing in reference/ calls into a forbidden module, however it got there.

# The same modules as FORBIDDEN, as the files their functions are defined in.
FORBIDDEN_FILES = tuple("/" + name.replace(".", "/") + ".py" for name in FORBIDDEN)
REFERENCE_DIR = str(Path(reference.__file__).parent)


def forbidden_calls_during(action) -> list[str]:
    """Calls of functions defined in forbidden files whose nearest caller outside those
    files is the reference (torch's own plumbing, e.g. fuse, may use them)."""
    found = []

    def profile(frame, event, arg):
        if event != "call" or not frame.f_code.co_filename.endswith(FORBIDDEN_FILES):
            return
        caller = frame.f_back
        while caller is not None and caller.f_code.co_filename.endswith(FORBIDDEN_FILES):
            caller = caller.f_back
        if caller is not None and caller.f_code.co_filename.startswith(REFERENCE_DIR):
            found.append(f"{Path(caller.f_code.co_filename).name}:{caller.f_code.co_name} -> {frame.f_code.co_name}")

    sys.setprofile(profile)
    try:
        action()
    finally:
        sys.setprofile(None)
    return sorted(set(found))


CASES_USING_EVERY_RULE_FAMILY = (
    "lstm/linear-lstm-linear/x86-qat",
    "standalone/nested/x86-qat",
    "standalone/by-class-quantized-io/x86-static",
    "rules/equalization/x86-equalization",
    "rules/mixed-mapping/x86-mixed",
    "rules/custom-module/x86-static",
    "rules/fixed-qparams-constraints/qnnpack-global-default",
    "patterns/cat/qnnpack-static",
    "patterns/masked-fill/x86-dynamic",
)


@pytest.mark.filterwarnings("ignore::UserWarning")  # constraint violations warn, as torch's do
@pytest.mark.parametrize("case_id", CASES_USING_EVERY_RULE_FAMILY)
def test_reference_never_calls_placement_logic(case_id):
    case = next(c for c in all_cases() if c.id == case_id)
    inputs = case.materialise()
    calls = forbidden_calls_during(
        lambda: reference.prepare(inputs.model, inputs.qconfig_mapping, inputs.example_inputs, **inputs.kwargs())
    )
    assert calls == []


PT2E_CASES_USING_EVERY_RULE = (
    "pt2e/annotations/shared-chain/annotation-static",
    "pt2e/annotations/derived-bias/annotation-qat",
    "pt2e/annotations/fixed-qparams/annotation-qat",
    "pt2e/annotations/mutable-buffer/annotation-static",
    "pt2e/annotations/implicit-sharing-other-dtype/annotation-static",
    "pt2e/ops/conv_bn_relu/xnnpack-qat",
    "pt2e/ops/x86-conv2d_bn_add_relu/x86-inductor-static",
)


@pytest.mark.parametrize("case_id", PT2E_CASES_USING_EVERY_RULE)
def test_the_pt2e_reference_never_calls_prepare_pt2e(case_id):
    import reference.pt2e

    case = next(c for c in all_cases() if c.id == case_id)
    inputs = case.materialise()
    calls = forbidden_calls_during(
        lambda: reference.pt2e.prepare_pt2e(inputs.model, inputs.quantizer, is_qat=inputs.is_qat))
    assert calls == []


def test_the_run_time_check_catches_a_call():
    from torch.ao.quantization.fx import utils as fx_utils

    namespace = {"fx_utils": fx_utils}
    code = compile("def rule(node):\n    return fx_utils.node_arg_is_weight(node, None)\n",
                   str(Path(REFERENCE_DIR) / "planted_rule.py"), "exec")
    exec(code, namespace)
    node = torch.fx.Graph().placeholder("x")
    assert forbidden_calls_during(lambda: namespace["rule"](node)) == ["planted_rule.py:rule -> node_arg_is_weight"]
