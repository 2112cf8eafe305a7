"""The contract an implementation under test (IUT) honours, and how IUTs are named.

    def prepare(model, qconfig_mapping, example_inputs, *, is_qat=False,
                prepare_custom_config=None, backend_config=None,
                equalization_config=None) -> torch.fx.GraphModule

An IUT is named `torch` (the installed torch's prepare_fx / prepare_qat_fx: the
oracle), `reference` (the built-in reference) or `package.module:callable`.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from typing import TYPE_CHECKING

from .outcome import REJECTION_MATCHES

if TYPE_CHECKING:  # torch loads when an IUT is called, not when one is named
    from torch.fx import GraphModule

BUILTIN = ("torch", "reference")


class ImplementationError(Exception):
    """An IUT that cannot be loaded: a setup error, reported in one line (exit 2)."""


@dataclass(frozen=True)
class Implementation:
    name: str
    prepare: Callable[..., GraphModule]
    # how its refusals are matched with the oracle's on negative cases: "message" (the same
    # exception class, its message containing the oracle's) or "class" (the class alone),
    # for an IUT that words its errors its own way: `prepare.obsconf_rejections = "class"`
    rejections: str = "message"


def oracle_prepare(
    model,
    qconfig_mapping,
    example_inputs,
    *,
    is_qat=False,
    prepare_custom_config=None,
    backend_config=None,
    equalization_config=None,
) -> GraphModule:
    """The installed torch's own prepare_fx / prepare_qat_fx."""
    from torch.ao.quantization.quantize_fx import prepare_fx, prepare_qat_fx

    if is_qat:
        return prepare_qat_fx(
            model,
            qconfig_mapping,
            example_inputs,
            prepare_custom_config=prepare_custom_config,
            backend_config=backend_config,
        )
    return prepare_fx(
        model,
        qconfig_mapping,
        example_inputs,
        prepare_custom_config=prepare_custom_config,
        _equalization_config=equalization_config,
        backend_config=backend_config,
    )


ORACLE = Implementation("torch", oracle_prepare)


def load(spec: str, what: str = "IUT") -> Implementation:
    """Resolve an IUT name; ImplementationError (one line) when it cannot be used. The
    same importer finds a model builder or an inputs callable (`what` names it in errors)."""
    if spec == "torch" and what == "IUT":
        return ORACLE
    if spec == "reference" and what == "IUT":
        import reference

        return Implementation("reference", reference.prepare)
    module_name, colon, attr = spec.partition(":")
    if not colon or not module_name or not attr:
        expected = "'torch', 'reference' or 'package.module:callable'" if what == "IUT" else "'package.module:callable'"
        raise ImplementationError(f"{what} {spec!r}: expected {expected}")
    # Like `python -m`, let an IUT that lives in the current directory be imported.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure is the IUT's, reported in one line
        raise ImplementationError(f"{what} {spec!r}: cannot import {module_name}: {type(exc).__name__}: {exc}") from None
    target = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ImplementationError(f"{what} {spec!r}: {module_name} has no attribute {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ImplementationError(f"{what} {spec!r}: {attr} is not callable")
    rejections = getattr(target, "obsconf_rejections", "message")
    if rejections not in REJECTION_MATCHES:
        raise ImplementationError(f"{what} {spec!r}: obsconf_rejections must be one of {REJECTION_MATCHES}, "
                                  f"not {rejections!r}")
    return Implementation(spec, target, rejections)
