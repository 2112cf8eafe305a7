"""Standalone modules: prepared on their own and kept as one call_module node."""

from __future__ import annotations

import torch
from torch import nn
from torch.ao.quantization.fx.custom_config import PrepareCustomConfig

from torch.ao.quantization import get_default_qconfig_mapping
from torch.ao.quantization.backend_config import get_qnnpack_backend_config

from .configs import STATIC_AND_QAT
from .recipe import Recipe


class ConvReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv(x))


class Parent(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.sub = ConvReLU()
        self.linear = nn.Linear(8, 2)

    def forward(self, x):
        return self.linear(self.sub(self.conv(x)))


def by_name_default(_preset) -> PrepareCustomConfig:
    # None: the standalone module takes the parent's qconfig mapping and backend config.
    return PrepareCustomConfig().set_standalone_module_name(
        "sub", None, (torch.randn(1, 4, 8, 8),), PrepareCustomConfig(), None
    )


def by_class_quantized_io(_preset) -> PrepareCustomConfig:
    # By class, expecting a quantized input and producing a quantized output.
    inner = PrepareCustomConfig().set_input_quantized_indexes([0]).set_output_quantized_indexes([0])
    return PrepareCustomConfig().set_standalone_module_class(ConvReLU, None, (torch.randn(1, 4, 8, 8),), inner, None)


def own_configs(_preset) -> PrepareCustomConfig:
    # Its own qconfig mapping and backend config (qnnpack), whatever the parent uses.
    return PrepareCustomConfig().set_standalone_module_name(
        "sub", get_default_qconfig_mapping("qnnpack"), (torch.randn(1, 4, 8, 8),), PrepareCustomConfig(),
        get_qnnpack_backend_config(),
    )


class Middle(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = ConvReLU()
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        return self.conv(self.inner(x))


class Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.middle = Middle()

    def forward(self, x):
        return torch.flatten(self.middle(self.conv(x)), 1)


def nested(_preset) -> PrepareCustomConfig:
    # A standalone module with a standalone module inside, quantized input at both levels.
    example = (torch.randn(1, 4, 8, 8),)
    inner = PrepareCustomConfig().set_input_quantized_indexes([0])
    middle = PrepareCustomConfig().set_standalone_module_name("inner", None, example, inner, None)
    return PrepareCustomConfig().set_standalone_module_name("middle", None, example, middle.set_input_quantized_indexes([0]), None)


RECIPES = [
    Recipe(
        "standalone",
        "by-name",
        Parent,
        lambda: (torch.randn(1, 3, 8, 8),),
        tags=("standalone",),
        prepare_custom_config=by_name_default,
    ),
    Recipe("standalone", "by-class-quantized-io", Parent, lambda: (torch.randn(1, 3, 8, 8),),
           tags=("standalone", "quantized-io"), prepare_custom_config=by_class_quantized_io, presets=STATIC_AND_QAT),
    Recipe("standalone", "own-configs", Parent, lambda: (torch.randn(1, 3, 8, 8),), tags=("standalone",),
           prepare_custom_config=own_configs, presets=STATIC_AND_QAT),
    Recipe("standalone", "nested", Outer, lambda: (torch.randn(1, 3, 8, 8),), tags=("standalone", "nested"),
           prepare_custom_config=nested, presets=STATIC_AND_QAT),
]
