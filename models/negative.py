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
from torch.ao.quantization import (
    PlaceholderObserver,
    QConfig,
    QConfigMapping,
    default_dynamic_qconfig,
    default_qconfig,
    default_weight_observer,
    get_default_qconfig,
    get_default_qconfig_mapping,
)
from torch.ao.quantization.backend_config import BackendConfig, BackendPatternConfig, DTypeConfig, ObservationType
from torch.ao.quantization.backend_config.x86 import get_x86_backend_config
from torch.ao.quantization.fx.custom_config import PrepareCustomConfig
from torch.ao.quantization.qconfig import default_per_channel_qconfig

from .patterns import Linear
from .recipe import ConfigPreset, Recipe
from .rules import LongSharingWalk, standalone_output_quantized
from .standalone import ConvReLU


def _vector():
    return (torch.randn(2, 4),)


def _vector8():
    return (torch.randn(2, 8),)


def _image4():
    return (torch.randn(1, 4, 4, 4),)


def _image():
    return (torch.randn(1, 3, 4, 4),)


def _image8():
    return (torch.randn(1, 3, 8, 8),)


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


class LinearOfRelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x):
        return self.linear(torch.relu(x))


def _pattern(op, *dtype_configs: DTypeConfig) -> BackendPatternConfig:
    config = BackendPatternConfig(op).set_observation_type(ObservationType.OUTPUT_USE_DIFFERENT_OBSERVER_AS_INPUT)
    for dtype_config in dtype_configs:
        config.add_dtype_config(dtype_config)
    return config.set_root_module(op) if isinstance(op, type) else config


def _dynamic_linear_after_relu_observing(dtype) -> ConfigPreset:
    """A BackendConfig whose relu outputs `dtype` (an observer of no tensor dtype) into a
    dynamic linear, and the mapping that asks for both."""
    name = getattr(dtype, "__name__", None) or str(dtype).removeprefix("torch.")

    def backend_config():
        return (BackendConfig(f"relu-outputs-{name}")
                .set_backend_pattern_config(_pattern(torch.relu, DTypeConfig(input_dtype=dtype, output_dtype=dtype)))
                .set_backend_pattern_config(_pattern(nn.Linear, DTypeConfig(
                    input_dtype=torch.quint8, output_dtype=torch.float, weight_dtype=torch.qint8, is_dynamic=True))))

    def mapping():
        observes = QConfig(activation=PlaceholderObserver.with_args(dtype=dtype), weight=default_weight_observer)
        return QConfigMapping().set_object_type(torch.relu, observes).set_object_type(nn.Linear, default_dynamic_qconfig)

    return ConfigPreset(f"relu-outputs-{name}-dynamic-linear", mapping, backend_config, tags=("dynamic", "custom-backend"))


def _dynamic_float_activation() -> ConfigPreset:
    """A dynamic linear whose activation 'observer' has the float dtype, declared by its BackendConfig."""

    def backend_config():
        return BackendConfig("dynamic-float-linear").set_backend_pattern_config(_pattern(nn.Linear, DTypeConfig(
            input_dtype=torch.float, output_dtype=torch.float, weight_dtype=torch.qint8, is_dynamic=True)))

    def mapping():
        activation = PlaceholderObserver.with_args(dtype=torch.float, is_dynamic=True)
        return QConfigMapping().set_object_type(nn.Linear, QConfig(activation=activation, weight=default_weight_observer))

    return ConfigPreset("dynamic-float-activation", mapping, backend_config, tags=("dynamic", "custom-backend"))


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
    # a dynamic target of a dtype no dynamic observer makes (prepare.py's _OBS_DTYPE_LIST)
    negative("dynamic-float-activation", Linear, _vector8, _dynamic_float_activation(), tags=("dynamic",)),
    # a dynamic linear after an observer whose dtype is not a tensor's: each of _DO_NOT_OBS_DTYPE_LIST
    *(negative(f"dynamic-linear-after-{getattr(dtype, '__name__', 'bool')}-output",
               LinearOfRelu, _vector, _dynamic_linear_after_relu_observing(dtype), tags=("dynamic", "non-tensor-arg"))
      for dtype in (int, float, torch.bool)),
    # the walk from a cat back to the observer it shares gives up after 10,000 steps
    *(negative(f"sharing-walk-past-its-guard-{which}-input", lambda first=first: LongSharingWalk(first, 10_000),
               _image8, "x86-static", tags=("sharing", "standalone", "long-graph"),
               prepare_custom_config=standalone_output_quantized)
      for which, first in (("first", True), ("other", False))),
]
