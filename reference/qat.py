"""Rule family: QAT module swaps."""

from __future__ import annotations

from torch.ao.nn.intrinsic import _FusedModule
from torch.nn.utils.parametrize import type_before_parametrizations

from .qconfig import add_qat_module_types


def qat_classes(backend) -> dict:
    """Float (or fused) class -> QAT class, from the BackendConfig's qat_module entries."""
    return {p: c.qat_module for p, c in backend._pattern_complex_format_to_config.items() if c.qat_module is not None}


def swap_qat_modules(model, mapping, backend) -> None:
    """Below the root, every module with a (eager) qconfig whose class has a QAT class is
    replaced by `QAT.from_float`; children are swapped first, and fused modules are swapped
    as one unit. Afterwards QAT classes take their float class's object_type qconfig."""
    classes = qat_classes(backend)
    swap_children(model, classes)
    add_qat_module_types(mapping, classes)


def swap_children(module, classes) -> None:
    """Each child with a qconfig whose class has a QAT class becomes `QAT.from_float(child)`,
    after its own children (a fused module is one unit). from_float refuses a qconfig its
    class cannot take: an Embedding's weight fake-quant must be per_channel_affine_float_qparams
    (AssertionError); and a fused module's QAT class takes the qconfig of its first part,
    so a fused module whose first part eager propagation left without one (an object_type
    None for Conv2d or Linear) refuses too (AssertionError: qconfig must be provided)."""
    for name, child in list(module.named_children()):
        if not isinstance(child, _FusedModule):
            swap_children(child, classes)
        cls = classes.get(type_before_parametrizations(child))
        if cls is not None and getattr(child, "qconfig", None) is not None:
            module._modules[name] = cls.from_float(child)
