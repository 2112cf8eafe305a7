"""The contracts an implementation under test (IUT) honours, and how IUTs are named.

prepare_fx's path (the `fx` contract, every case but the pt2e family's):

    def prepare(model, qconfig_mapping, example_inputs, *, is_qat=False,
                prepare_custom_config=None, backend_config=None,
                equalization_config=None) -> torch.fx.GraphModule

prepare_pt2e's path (the `pt2e` contract, the pt2e family): the model is the float
model exported (`torch.export.export(model, example_inputs).module()`), the quantizer
the case's; the IUT annotates with it and places observers, as prepare_pt2e /
prepare_qat_pt2e do:

    def prepare_pt2e(model, quantizer, *, is_qat=False) -> torch.fx.GraphModule

A quantizer is checked with the `quantizer` contract: a callable that returns a
Quantizer, used in place of each case's by the oracle's prepare_pt2e.

An IUT is named `torch` (the oracles: the installed torch's prepare_fx /
prepare_qat_fx, and torchao's prepare_pt2e / prepare_qat_pt2e), `reference` (the
built-in reference, both paths) or `package.module:callable`; the callable's
`obsconf_contract` attribute says which contract it honours: "fx" (the default),
"pt2e" or "quantizer". An fx callable offers the pt2e path too when its `obsconf_pt2e`
attribute names a prepare_pt2e.
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
CONTRACTS = ("fx", "pt2e", "quantizer")


class ImplementationError(Exception):
    """An IUT that cannot be loaded: a setup error, reported in one line (exit 2)."""


@dataclass(frozen=True)
class Implementation:
    name: str
    # the fx contract's prepare, None for an IUT of the pt2e path only
    prepare: Callable[..., GraphModule] | None
    # how its refusals are matched with the oracle's on negative cases: "message" (the same
    # exception class, its message containing the oracle's) or "class" (the class alone),
    # for an IUT that words its errors its own way: `prepare.obsconf_rejections = "class"`
    rejections: str = "message"
    # the pt2e contract's prepare_pt2e, None for an IUT of the fx path only
    prepare_pt2e: Callable[..., GraphModule] | None = None

    def for_path(self, path: str) -> Callable[..., GraphModule] | None:
        """The callable this IUT offers for cases of `path` ("fx" or "pt2e"), or None."""
        return self.prepare_pt2e if path == "pt2e" else self.prepare


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


def oracle_prepare_pt2e(model, quantizer, *, is_qat=False) -> GraphModule:
    """torchao's prepare_pt2e / prepare_qat_pt2e (torch 2.11 removed torch.ao's), or under
    torch 2.1 ... 2.10 without torchao torch's own (models/pt2e_source.py)."""
    from models.pt2e_source import module

    quantize_pt2e = module("quantize_pt2e")
    return (quantize_pt2e.prepare_qat_pt2e if is_qat else quantize_pt2e.prepare_pt2e)(model, quantizer)


def _reference_prepare_pt2e(model, quantizer, *, is_qat=False) -> GraphModule:
    import reference.pt2e

    return reference.pt2e.prepare_pt2e(model, quantizer, is_qat=is_qat)


def _reference_prepare(*args, **kwargs) -> GraphModule:
    import reference

    return reference.prepare(*args, **kwargs)


ORACLE = Implementation("torch", oracle_prepare, prepare_pt2e=oracle_prepare_pt2e)
REFERENCE = Implementation("reference", _reference_prepare, prepare_pt2e=_reference_prepare_pt2e)


def with_quantizer(name: str, make_quantizer: Callable[[], object]) -> Implementation:
    """The `quantizer` contract: the oracle's prepare_pt2e with `make_quantizer()` in place
    of each case's quantizer (a fork of a quantizer, a new backend's)."""

    def prepare_pt2e(model, quantizer, *, is_qat=False) -> GraphModule:
        return oracle_prepare_pt2e(model, make_quantizer(), is_qat=is_qat)

    return Implementation(name, None, getattr(make_quantizer, "obsconf_rejections", "message"), prepare_pt2e)


def load(spec: str, what: str = "IUT") -> Implementation:
    """Resolve an IUT name; ImplementationError (one line) when it cannot be used. The
    same importer finds a model builder or an inputs callable (`what` names it in errors)."""
    if spec == "torch" and what == "IUT":
        return ORACLE
    if spec == "reference" and what == "IUT":
        return REFERENCE
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
    if what != "IUT":
        return Implementation(spec, target, rejections)
    contract = getattr(target, "obsconf_contract", "fx")
    if contract not in CONTRACTS:
        raise ImplementationError(f"{what} {spec!r}: obsconf_contract must be one of {CONTRACTS}, not {contract!r}")
    if contract == "quantizer":
        return with_quantizer(spec, target)
    if contract == "pt2e":
        return Implementation(spec, None, rejections, target)
    # an fx callable may name its pt2e counterpart: one IUT name for both paths of a fork
    counterpart = getattr(target, "obsconf_pt2e", None)
    if counterpart is not None and not callable(counterpart):
        raise ImplementationError(f"{what} {spec!r}: obsconf_pt2e is not callable")
    return Implementation(spec, target, rejections, counterpart)
