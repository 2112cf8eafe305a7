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


class ByKeyword(nn.Module):
    """The standalone module is called with a keyword argument (not an indexed input)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.sub = ConvReLU()

    def forward(self, x):
        return self.sub(x=self.conv(x))


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.sub = AddTwo()

    def forward(self, x, y):
        return self.sub(self.conv(x), y)


class AddTwo(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, a, b):
        return self.conv(a) + b


def input_quantized(_preset) -> PrepareCustomConfig:
    inner = PrepareCustomConfig().set_input_quantized_indexes([0])
    return PrepareCustomConfig().set_standalone_module_name("sub", None, (torch.randn(1, 4, 8, 8),), inner, None)


def output_quantized(_preset) -> PrepareCustomConfig:
    inner = PrepareCustomConfig().set_output_quantized_indexes([0])
    return PrepareCustomConfig().set_standalone_module_name("sub", None, (torch.randn(1, 4, 8, 8),), inner, None)


def second_input_quantized(_preset) -> PrepareCustomConfig:
    inner = PrepareCustomConfig().set_input_quantized_indexes([1])
    example = (torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8))
    return PrepareCustomConfig().set_standalone_module_class(AddTwo, None, example, inner, None)


def by_class_default(_preset) -> PrepareCustomConfig:
    return PrepareCustomConfig().set_standalone_module_class(ConvReLU, None, (torch.randn(1, 4, 8, 8),), None, None)


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
    Recipe("standalone", "input-quantized", Parent, lambda: (torch.randn(1, 3, 8, 8),), tags=("standalone",),
           prepare_custom_config=input_quantized, presets=STATIC_AND_QAT),
    Recipe("standalone", "output-quantized", Parent, lambda: (torch.randn(1, 3, 8, 8),), tags=("standalone",),
           prepare_custom_config=output_quantized, presets=STATIC_AND_QAT),
    Recipe("standalone", "by-class", Parent, lambda: (torch.randn(1, 3, 8, 8),), tags=("standalone",),
           prepare_custom_config=by_class_default, presets=STATIC_AND_QAT),
    Recipe("standalone", "two-inputs", TwoInputs, lambda: (torch.randn(1, 3, 8, 8), torch.randn(1, 4, 8, 8)),
           tags=("standalone", "quantized-io"), prepare_custom_config=second_input_quantized, presets=STATIC_AND_QAT),
    Recipe("standalone", "by-keyword", ByKeyword, lambda: (torch.randn(1, 3, 8, 8),), tags=("standalone", "kwargs"),
           prepare_custom_config=by_name_default, presets=STATIC_AND_QAT),
    Recipe("standalone", "nested", Outer, lambda: (torch.randn(1, 3, 8, 8),), tags=("standalone", "nested"),
           prepare_custom_config=nested, presets=STATIC_AND_QAT),
]
