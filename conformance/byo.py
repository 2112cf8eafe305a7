"""Bring your own model: compare two implementations on a model that is not in the corpus.

    from conformance import compare
    differences = compare(build_block, (torch.randn(1, 8, 16),), qconfig="x86-static",
                          impl="mypkg.prepare:prepare", against="torch")

The model is a builder (called afresh for each side) or a module (deep-copied for each
side); `qconfig` names a preset (`obsconf list`'s third id part: x86-static, x86-qat, ...)
and `backend` optionally replaces its backend config. The same in the CLI:
`obsconf compare --model pkg.mod:builder --example-inputs 1x8x16 --qconfig x86-static
--impl A --against B [--save-case NAME]`; a saved case joins the corpus in the `user`
family (models/user_cases.json) and gets its golden from `obsconf regen -k user/`.
"""

from __future__ import annotations

from models.recipe import Case
from models.user import CompareError, make_case, parse_shapes

from . import diff
from .contract import Implementation, load
from .runner import produce_plan


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


__all__ = ["CompareError", "compare", "compare_case", "make_case", "parse_shapes"]
