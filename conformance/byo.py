"""Bring your own model: compare two implementations on a model that is not in the corpus.

    from conformance import compare
    differences = compare(build_block, (torch.randn(1, 8, 16),), qconfig="x86-static",
                          impl="mypkg.prepare:prepare", against="torch")

The model is a builder (called afresh for each side) or a module (deep-copied for each
side); `qconfig` names a preset (`obsconf list`'s third id part: x86-static, x86-qat, ...)
and `backend` optionally replaces its backend config. The same in the CLI:
`obsconf compare --model pkg.mod:builder --example-inputs 1x8x16 --qconfig x86-static
--impl A --against B [--cases DIR --save-case NAME]`; a saved case goes into the user's
own cases folder (DIR/cases.json, see models/user.py), joins the corpus as the `user`
family whenever `--cases DIR` is given, and gets its golden, in DIR/golden/, from
`obsconf --cases DIR regen -k user/`.
"""

from __future__ import annotations

from models.recipe import Case
import torch

from models.user import CompareError, check_name, make_case, parse_shapes

from . import diff
from .contract import Implementation, load
from .runner import produce_plan


def check_runs(case: Case, model_name: str, inputs_name: str) -> None:
    """CompareError when the float model cannot be built, or does not run on the example
    inputs: prepare never runs the model, so inputs of the wrong rank or size would
    otherwise pass unnoticed (and calibrate nothing later)."""
    from .runner import _one_line

    try:
        built = case.materialise()
    except Exception as exc:  # noqa: BLE001 (the user's builder: anything is its error)
        raise CompareError(f"model {model_name!r}: cannot build it: {_one_line(exc)}") from None
    try:
        with torch.no_grad():
            built.model.eval()(*built.example_inputs)
    except Exception as exc:  # noqa: BLE001
        raise CompareError(f"example inputs {inputs_name!r}: model {model_name!r} does not run on them: "
                           f"{_one_line(exc)}") from None


def compare_case(case: Case, impl: Implementation, against: Implementation) -> list[str]:
    """The differences between `against` (expected) and `impl`; CaseError when a side fails."""
    expected = produce_plan(case, against)
    actual = produce_plan(case, impl)
    return diff.compare(expected, actual)


def compare(model, example_inputs, qconfig: str = "x86-static", backend: str | None = None,
            impl: str | Implementation = "torch", against: str | Implementation = "torch") -> list[str]:
    """The differences between two implementations on one model (empty: they agree)."""
    impl = load(impl) if isinstance(impl, str) else impl
    against = load(against) if isinstance(against, str) else against
    return compare_case(make_case(model, example_inputs, qconfig, backend), impl, against)


__all__ = ["CompareError", "check_name", "check_runs", "compare", "compare_case", "make_case", "parse_shapes"]
