"""Negative cases: configurations a user can write that prepare_fx / prepare_qat_fx refuse.

Each is a minimal model under the configuration that makes prepare raise; its golden
records the oracle's exception class and message (tag `rejects`). The zoo holds more:
the BackendConfig patterns the default mappings cannot prepare (ConvTranspose with a
per-channel weight observer, ConvTranspose + BatchNorm in QAT, embeddings in QAT, fused
parts with different qconfigs); `patterns/embedding/x86-qat` is one too. What prepare
accepts silently (a quantized input or output index out of range, an unknown key in a
qconfig dict) is not a refusal and is left to the positive cases.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.ao.quantization import QConfigMapping, default_qconfig, get_default_qconfig, get_default_qconfig_mapping
from torch.ao.quantization.backend_config.x86 import get_x86_backend_config
from torch.ao.quantization.fx.custom_config import PrepareCustomConfig
from torch.ao.quantization.qconfig import default_per_channel_qconfig

from .patterns import Linear
from .recipe import ConfigPreset, Recipe
from .standalone import ConvReLU


def _vector():
    return (torch.randn(2, 4),)


def _vector8():
    return (torch.randn(2, 8),)


def _image4():
    return (torch.randn(1, 4, 4, 4),)


def _image():
    return (torch.randn(1, 3, 4, 4),)


def _preset(name: str, mapping, tags=(), equalization_config=None) -> ConfigPreset:
    return ConfigPreset(name, mapping, get_x86_backend_config, equalization_config=equalization_config,
                        tags=("static", *tags))


def negative(name: str, build, example_inputs, preset: ConfigPreset | str, tags=(), prepare_custom_config=None) -> Recipe:
    """A recipe whose one case prepare refuses: under a preset of its own, or one of PRESETS by name."""
    return Recipe("negative", name, build, example_inputs, tags=("negative", *tags), presets=(preset,),
                  rejects=(getattr(preset, "name", preset),), prepare_custom_config=prepare_custom_config)


class ReturnsConstant(nn.Module):
    """Returns an int: a graph output prepare cannot observe or pass through."""

    def forward(self, x):
        return 3


class ReturnsTwo(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x):
        y = self.linear(x)
        return y, y + 1


class WithStandalone(nn.Module):
    def __init__(self):
        super().__init__()
        self.sub = ReturnsTwo()

    def forward(self, x):
        a, b = self.sub(x)
        return a + b


def _sub_standalone(_preset) -> PrepareCustomConfig:
    return PrepareCustomConfig().set_standalone_module_name("sub", None, _vector(), PrepareCustomConfig(), None)


class LinearOfSize(nn.Module):
    """A dynamic linear applied to an int (the batch size): nothing a dynamic observer can see."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x):
        return self.linear(x.size(0))


class LinearOfViewSize(nn.Module):
    """The same, of a size that also shapes a view: prepare types it int, as view's argument."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 4)

    def forward(self, x):
        n = x.size(0)
        return x.view(n, -1), self.linear(n)


class LinearOfMask(nn.Module):
    """A dynamic linear applied to the bool mask of a masked_fill: prepare types it bool."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x):
        mask = x > 0
        return x.masked_fill(mask, 0.0), self.linear(mask)


class ConvTranspose(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.up = nn.ConvTranspose2d(3, 3, 2, stride=2)

    def forward(self, x):
        return self.up(self.conv(x))


RECIPES = [
    negative("returns-constant", ReturnsConstant, _vector, "x86-static", tags=("graph-output",)),
    negative("standalone-returns-tuple", WithStandalone, _vector, "x86-static", tags=("standalone",),
             prepare_custom_config=_sub_standalone),
    # a dynamic input with no tensor dtype: untyped (None), int, bool (_DO_NOT_OBS_DTYPE_LIST)
    negative("dynamic-linear-of-a-size", LinearOfSize, _vector, "x86-dynamic", tags=("dynamic", "non-tensor-arg")),
    negative("dynamic-linear-of-a-view-size", LinearOfViewSize, _vector, "x86-dynamic",
             tags=("dynamic", "non-tensor-arg")),
    negative("dynamic-linear-of-a-mask", LinearOfMask, _vector, "x86-dynamic", tags=("dynamic", "bool-arg")),
    # a mapping that is neither a QConfigMapping nor its dict form
    negative("qconfig-mapping-a-list", Linear, _vector8, _preset("x86-list-mapping", lambda: [default_qconfig]),
             tags=("malformed-config",)),
    negative("equalization-config-a-list", Linear, _vector8,
             _preset("x86-list-equalization", lambda: get_default_qconfig_mapping("x86"), ("equalization",),
                     equalization_config=lambda: [default_qconfig]),
             tags=("malformed-config", "equalization")),
    # the dict form's object_type entries are (type, qconfig) pairs
    negative("qconfig-dict-one-element-entry", Linear, _vector8,
             _preset("x86-dict-bad-entry", lambda: {"": default_qconfig, "object_type": [(nn.Linear,)]},
                     ("dict-configs",)),
             tags=("malformed-config",)),
    # conv and relu fuse into ConvReLU2d, which needs one qconfig for both parts
    negative("fused-parts-disagree", ConvReLU, _image4,
             _preset("x86-conv-relu-disagree", lambda: QConfigMapping().set_object_type(nn.Conv2d, default_qconfig)
                     .set_object_type(nn.ReLU, get_default_qconfig("qnnpack"))),
             tags=("fused", "object_type")),
    # a per-channel weight observer for one ConvTranspose2d by name, under x86's defaults
    negative("conv-transpose-per-channel-by-name", ConvTranspose, _image,
             _preset("x86-conv-transpose-per-channel",
                     lambda: get_default_qconfig_mapping("x86").set_module_name("up", default_per_channel_qconfig)),
             tags=("conv-transpose", "per-channel", "module_name")),
]
