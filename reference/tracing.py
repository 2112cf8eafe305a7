"""Rule family: from the float model to the graph that placement works on.

Tracing and fusion are torch's own plumbing (QuantizationTracer, fuse); the rules here
only say which modules stay opaque and what is swapped before tracing.
"""

from __future__ import annotations

import torch
from torch.ao.nn.quantized import FloatFunctional, FXFloatFunctional
from torch.ao.quantization.fx.custom_config import FuseCustomConfig, PrepareCustomConfig
from torch.ao.quantization.fx.fuse import fuse
from torch.ao.quantization.fx.tracer import QuantizationTracer
from torch.fx import GraphModule


def swap_float_functional(module: torch.nn.Module) -> None:
    """Every FloatFunctional child becomes an FXFloatFunctional, so its ops trace as functions."""
    for name, child in list(module.named_children()):
        if isinstance(child, FloatFunctional):
            del module._modules[name]
            module._modules[name] = FXFloatFunctional()
        else:
            swap_float_functional(child)


def custom_module_classes(config: PrepareCustomConfig) -> list[type]:
    """The float classes of custom modules, across static, dynamic and weight-only mappings."""
    classes: set[type] = set()
    for mapping in config.float_to_observed_mapping.values():
        classes.update(mapping)
    return list(classes)


def opaque_modules(config: PrepareCustomConfig, is_standalone: bool) -> tuple[list[str], list[type]]:
    """Non-traceable modules stay leaves; so do standalone and custom modules, except when
    tracing the inside of a standalone module."""
    names = list(config.non_traceable_module_names)
    classes = list(config.non_traceable_module_classes)
    if not is_standalone:
        names += list(config.standalone_module_names)
        classes += list(config.standalone_module_classes) + custom_module_classes(config)
    return names, classes


def trace_and_fuse(model, config: PrepareCustomConfig, is_qat: bool, backend_config, is_standalone: bool):
    """Trace with the quantization tracer, then fuse: returns (graph module, node name -> scope).
    Fusion refuses what torch's fuser cannot fuse: ConvTranspose + BatchNorm in QAT, conv or
    linear + BatchNorm with add or leaky_relu in train mode, and onednn's linear with a
    functional activation (its fuser method takes modules only)."""
    swap_float_functional(model)
    tracer = QuantizationTracer(*opaque_modules(config, is_standalone))
    traced = GraphModule(model, tracer.trace(model))
    fuse_config = FuseCustomConfig().set_preserved_attributes(config.preserved_attributes)
    return fuse(traced, is_qat, fuse_config, backend_config), tracer.node_name_to_scope
