"""The configuration presets: the qconfig mappings and backends people use."""

from __future__ import annotations

import operator
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.ao.quantization import (
    HistogramObserver,
    MinMaxObserver,
    QConfig,
    QConfigMapping,
    default_dynamic_qconfig,
    default_symmetric_qnnpack_qconfig,
    default_weight_observer,
    float16_dynamic_qconfig,
    float16_static_qconfig,
    float_qparams_weight_only_qconfig,
    get_default_qat_qconfig_mapping,
    get_default_qconfig,
    get_default_qconfig_mapping,
)
from torch.ao.quantization.fx._equalize import default_equalization_qconfig
from torch.ao.quantization.backend_config import get_native_backend_config, get_qnnpack_backend_config
from torch.ao.quantization.backend_config.x86 import get_x86_backend_config

from .recipe import ConfigPreset, SkipCase


def _dynamic_mapping() -> QConfigMapping:
    # Global, as torch's own dynamic tests write it: an object_type mapping for Linear
    # alone makes fusion reject Linear+ReLU (both halves need the same qconfig); the
    # backend config leaves every op but linear (and recurrent layers) in float.
    return QConfigMapping().set_global(default_dynamic_qconfig)


def _fp16_mapping() -> QConfigMapping:
    return QConfigMapping().set_global(float16_static_qconfig)


PRESETS = {
    p.name: p
    for p in (
        ConfigPreset("x86-static", lambda: get_default_qconfig_mapping("x86"), get_x86_backend_config, tags=("static",)),
        ConfigPreset(
            "qnnpack-static", lambda: get_default_qconfig_mapping("qnnpack"), get_qnnpack_backend_config, tags=("static",)
        ),
        ConfigPreset(
            "x86-qat", lambda: get_default_qat_qconfig_mapping("x86"), get_x86_backend_config, is_qat=True, tags=("qat",)
        ),
        ConfigPreset("x86-dynamic", _dynamic_mapping, get_x86_backend_config, tags=("dynamic",)),
        ConfigPreset("native-fp16", _fp16_mapping, get_native_backend_config, tags=("fp16",)),
    )
}

STATIC_AND_QAT = ("x86-static", "qnnpack-static", "x86-qat")
# A recipe that names no presets runs under these.
DEFAULT_PRESETS = tuple(PRESETS)


def _equalization() -> QConfigMapping:
    return QConfigMapping().set_global(default_equalization_qconfig)


def _embedding_weight_only() -> QConfigMapping:
    return get_default_qconfig_mapping("x86").set_object_type(nn.Embedding, float_qparams_weight_only_qconfig)


def _qnnpack_global(qconfig) -> Callable[[], QConfigMapping]:
    # One qconfig everywhere, fixed-qparams ops included: tests the backend's constraints.
    return lambda: QConfigMapping().set_global(qconfig)


def _qnnpack_qint8_unsymmetric() -> QConfigMapping:
    # qint8 activations over the full -128..127 range: outside qnnpack's symmetric constraint.
    return QConfigMapping().set_global(
        QConfig(activation=MinMaxObserver.with_args(dtype=torch.qint8), weight=default_weight_observer)
    )


def _mixed() -> QConfigMapping:
    """Every precedence level at once, for models.rules.Mixed's module names."""
    return (
        get_default_qconfig_mapping("x86")
        .set_object_type(operator.add, None)
        .set_module_name_regex(r"blocks\.1\..*", get_default_qconfig("qnnpack"))
        .set_module_name("blocks.2", None)
        .set_module_name("blocks.2.relu", get_default_qconfig("x86"))
        .set_module_name_object_type_order("head", nn.Linear, 1, None)
        .set_module_name_object_type_order("", F.relu, 0, get_default_qconfig("qnnpack"))
        .set_object_type("mean", get_default_qconfig("qnnpack"))
    )


def _symmetric_qnnpack() -> QConfigMapping:
    from torch.ao.quantization.qconfig_mapping import _get_symmetric_qnnpack_qconfig_mapping

    return _get_symmetric_qnnpack_qconfig_mapping()


def _symmetric_qnnpack_qat() -> QConfigMapping:
    from torch.ao.quantization.qconfig_mapping import _get_symmetric_qnnpack_qat_qconfig_mapping

    return _get_symmetric_qnnpack_qat_qconfig_mapping()


def _tensorrt() -> QConfigMapping:
    # As torch's TensorRT tests write it: qint8 symmetric activations, qint8 weights.
    return QConfigMapping().set_global(
        QConfig(
            activation=HistogramObserver.with_args(qscheme=torch.per_tensor_symmetric, dtype=torch.qint8),
            weight=default_weight_observer,
        )
    )


def backend_config(name: str):
    """The BackendConfig torch ships under this name."""
    import torch.ao.quantization.backend_config.utils  # noqa: F401  (BackendConfig needs it loaded)
    from torch.ao.quantization import backend_config as bc
    from torch.ao.quantization.backend_config import executorch, onednn, x86

    return {
        "native": bc.get_native_backend_config,
        "fbgemm": bc.get_fbgemm_backend_config,
        "qnnpack": bc.get_qnnpack_backend_config,
        "x86": x86.get_x86_backend_config,
        "onednn": onednn.get_onednn_backend_config,
        "executorch": executorch.get_executorch_backend_config,
        "tensorrt": bc.get_tensorrt_backend_config,
    }[name]()


def _backend(name: str):
    return lambda: backend_config(name)


# The default static and QAT mapping of every backend torch ships (the zoo and the
# torchvision matrix use them); native takes fbgemm's mappings, executorch the symmetric
# qnnpack ones.
PRESETS.update(
    {
        p.name: p
        for p in (
            ConfigPreset("native-static", lambda: get_default_qconfig_mapping("fbgemm"), get_native_backend_config,
                         tags=("static",)),
            ConfigPreset("native-qat", lambda: get_default_qat_qconfig_mapping("fbgemm"), get_native_backend_config,
                         is_qat=True, tags=("qat",)),
            ConfigPreset("fbgemm-static", lambda: get_default_qconfig_mapping("fbgemm"), _backend("fbgemm"),
                         tags=("static",)),
            ConfigPreset("fbgemm-qat", lambda: get_default_qat_qconfig_mapping("fbgemm"), _backend("fbgemm"),
                         is_qat=True, tags=("qat",)),
            ConfigPreset("qnnpack-qat", lambda: get_default_qat_qconfig_mapping("qnnpack"), get_qnnpack_backend_config,
                         is_qat=True, tags=("qat",)),
            ConfigPreset("onednn-static", lambda: get_default_qconfig_mapping("onednn"), _backend("onednn"),
                         tags=("static",)),
            ConfigPreset("onednn-qat", lambda: get_default_qat_qconfig_mapping("onednn"), _backend("onednn"),
                         is_qat=True, tags=("qat",)),
            ConfigPreset("executorch-static", _symmetric_qnnpack, _backend("executorch"), tags=("static", "symmetric")),
            ConfigPreset("executorch-qat", _symmetric_qnnpack_qat, _backend("executorch"), is_qat=True,
                         tags=("qat", "symmetric")),
            ConfigPreset("qnnpack-symmetric", _symmetric_qnnpack, get_qnnpack_backend_config,
                         tags=("static", "per-channel-symmetric")),
            ConfigPreset("tensorrt-static", _tensorrt, _backend("tensorrt"), tags=("static", "qint8")),
        )
    }
)


# Presets that only the recipes naming them run under (the rules family).
PRESETS.update(
    {
        p.name: p
        for p in (
            ConfigPreset(
                "x86-equalization",
                lambda: get_default_qconfig_mapping("x86"),
                get_x86_backend_config,
                equalization_config=_equalization,
                tags=("static", "equalization"),
            ),
            ConfigPreset(
                "x86-dict-configs",
                lambda: get_default_qconfig_mapping("x86").to_dict(),
                lambda: get_x86_backend_config().to_dict(),
                equalization_config=lambda: {"": default_equalization_qconfig},
                tags=("static", "dict-configs"),
            ),
            ConfigPreset("default-backend", lambda: get_default_qconfig_mapping("x86"), lambda: None,
                         tags=("static", "no-backend-config")),
            ConfigPreset("x86-mixed", _mixed, get_x86_backend_config, tags=("static", "mixed-mapping")),
            ConfigPreset("x86-dynamic-fp16", lambda: QConfigMapping().set_global(float16_dynamic_qconfig),
                         get_x86_backend_config, tags=("dynamic", "fp16")),
            ConfigPreset("x86-embedding-weight-only", _embedding_weight_only, get_x86_backend_config,
                         tags=("static", "weight-only")),
            ConfigPreset("qnnpack-global-default", _qnnpack_global(get_default_qconfig("qnnpack")),
                         get_qnnpack_backend_config, tags=("static", "constraints")),
            ConfigPreset("qnnpack-qint8-symmetric", _qnnpack_global(default_symmetric_qnnpack_qconfig),
                         get_qnnpack_backend_config, tags=("static", "constraints")),
            ConfigPreset("qnnpack-qint8-unsymmetric", _qnnpack_qint8_unsymmetric, get_qnnpack_backend_config,
                         tags=("static", "constraints")),
        )
    }
)


# Activation dtypes beyond quint8 / qint8 / float16 (torch 2.2 and 2.4 widened the observed
# ones): a custom backend whose linear takes and gives that dtype, and a qconfig that asks
# for it. One preset a dtype (the rules family's wide-dtypes recipe runs them).
# Named by attribute: torch releases before 2.1 have no float8 dtypes (those presets skip there).
WIDE_DTYPES = {
    "qint32": "qint32", "uint8": "uint8", "int8": "int8", "int16": "int16", "int32": "int32",
    "float8-e5m2": "float8_e5m2", "float8-e4m3fn": "float8_e4m3fn",
}


def torch_dtype(attribute: str) -> torch.dtype:
    """torch.<attribute>, or SkipCase when the installed torch has no such dtype."""
    dtype = getattr(torch, attribute, None)
    if not isinstance(dtype, torch.dtype):
        raise SkipCase(f"torch {torch.__version__} has no dtype torch.{attribute}")
    return dtype


def _wide_mapping(attribute: str) -> Callable[[], QConfigMapping]:
    return lambda: QConfigMapping().set_global(
        QConfig(activation=MinMaxObserver.with_args(dtype=torch_dtype(attribute)), weight=default_weight_observer))


def _wide_backend(attribute: str):
    def build():
        from torch.ao.quantization.backend_config import (
            BackendConfig, BackendPatternConfig, DTypeConfig, ObservationType)

        dtype = torch_dtype(attribute)
        config = DTypeConfig(input_dtype=dtype, output_dtype=dtype, weight_dtype=torch.qint8, bias_dtype=torch.float)
        shared = DTypeConfig(input_dtype=dtype, output_dtype=dtype)
        return BackendConfig(f"wide-{dtype}").set_backend_pattern_configs([
            BackendPatternConfig(nn.Linear)
            .set_observation_type(ObservationType.OUTPUT_USE_DIFFERENT_OBSERVER_AS_INPUT)
            .add_dtype_config(config),
            BackendPatternConfig(torch.flatten)
            .set_observation_type(ObservationType.OUTPUT_SHARE_OBSERVER_WITH_INPUT)
            .add_dtype_config(shared)])
    return build


PRESETS.update({
    f"wide-{name}": ConfigPreset(f"wide-{name}", _wide_mapping(attribute), _wide_backend(attribute),
                                 tags=("static", "wide-dtype"))
    for name, attribute in WIDE_DTYPES.items()
})


# Backends that support linear and cat for every part of the x86 default qconfig but one
# (an input, weight, bias or output dtype, the dynamic flag, a range constraint), or that
# leave one dtype unset (None: anything goes). prepare leaves a pattern its backend does
# not support in float; each preset moves one of the checks that decide it.
def _support_backend(**changes):
    def build():
        from torch.ao.quantization.backend_config import (
            BackendConfig, BackendPatternConfig, DTypeConfig, DTypeWithConstraints, ObservationType)

        def constrained(dtype, key):
            if changes.get(key) == "narrow":
                return DTypeWithConstraints(dtype=dtype, quant_min_lower_bound=0, quant_max_upper_bound=100)
            if changes.get(key) == "narrow-weight":
                return DTypeWithConstraints(dtype=dtype, quant_min_lower_bound=-127, quant_max_upper_bound=127)
            return changes.get(key, dtype)

        act, weight = changes.get("act", torch.quint8), changes.get("weight_dtype", torch.qint8)
        linear = DTypeConfig(input_dtype=constrained(act, "input"), output_dtype=constrained(act, "output"),
                             weight_dtype=constrained(weight, "weight"), bias_dtype=changes.get("bias", torch.float),
                             is_dynamic=changes.get("is_dynamic", None))
        shared = DTypeConfig(input_dtype=constrained(act, "input"), output_dtype=constrained(act, "output"),
                             is_dynamic=changes.get("is_dynamic", None))
        return BackendConfig("support").set_backend_pattern_configs([
            BackendPatternConfig(nn.Linear)
            .set_observation_type(ObservationType.OUTPUT_USE_DIFFERENT_OBSERVER_AS_INPUT)
            .add_dtype_config(linear),
            BackendPatternConfig(F.linear)  # weight and bias are graph arguments here: their checks run
            .set_observation_type(ObservationType.OUTPUT_USE_DIFFERENT_OBSERVER_AS_INPUT)
            .add_dtype_config(linear)
            ._set_input_type_to_index({"weight": 1, "bias": 2}),
            BackendPatternConfig(torch.cat)
            .set_observation_type(ObservationType.OUTPUT_SHARE_OBSERVER_WITH_INPUT)
            .add_dtype_config(shared),
            BackendPatternConfig(operator.mul)
            .set_observation_type(ObservationType.OUTPUT_USE_DIFFERENT_OBSERVER_AS_INPUT)
            .add_dtype_config(shared)])
    return build


SUPPORT_PRESETS = {
    "support-all": {},
    "support-input-dtype": {"input": torch.qint8},
    "support-input-range": {"input": "narrow"},
    "support-input-any": {"input": None},
    "support-dynamic": {"is_dynamic": True},
    "support-weight-dtype": {"weight": torch.quint8},
    "support-weight-range": {"weight": "narrow-weight"},
    "support-weight-any": {"weight": None},
    "support-bias-dtype": {"bias": torch.float16},
    "support-output-dtype": {"output": torch.qint8},
    "support-output-range": {"output": "narrow"},
    "support-output-any": {"output": None},
    # The bias dtype a qconfig implies: float16 only when activation and weight are float16
    # and the activation is not dynamic; each of these backends wants a float16 bias.
    "support-fp16": {"act": torch.float16, "weight_dtype": torch.float16, "bias": torch.float16},
    "support-fp16-weight": {"weight_dtype": torch.float16, "bias": torch.float16},
    "support-fp16-act": {"act": torch.float16, "bias": torch.float16},
    "support-fp16-dynamic": {"act": torch.float16, "weight_dtype": torch.float16, "bias": torch.float16,
                             "is_dynamic": True},
}


def _fp16(observer):
    return observer.with_args(dtype=torch.float16)


SUPPORT_QCONFIGS = {
    "support-fp16": lambda: float16_static_qconfig,
    "support-fp16-weight": lambda: QConfig(activation=get_default_qconfig("x86").activation,
                                           weight=_fp16(torch.ao.quantization.PlaceholderObserver)),
    "support-fp16-act": lambda: QConfig(activation=_fp16(torch.ao.quantization.PlaceholderObserver),
                                        weight=default_weight_observer),
    "support-fp16-dynamic": lambda: float16_dynamic_qconfig,
}


def _support_mapping(name: str) -> Callable[[], QConfigMapping]:
    if name in SUPPORT_QCONFIGS:
        return lambda: QConfigMapping().set_global(SUPPORT_QCONFIGS[name]())
    return lambda: get_default_qconfig_mapping("x86")


PRESETS.update({
    name: ConfigPreset(name, _support_mapping(name), _support_backend(**changes),
                       tags=("dynamic" if changes.get("is_dynamic") else "static", "backend-support"))
    for name, changes in SUPPORT_PRESETS.items()
})


PRESETS["x86-equalization-partial"] = ConfigPreset(
    "x86-equalization-partial", lambda: get_default_qconfig_mapping("x86").set_module_name("float_side", None),
    get_x86_backend_config, equalization_config=_equalization, tags=("static", "equalization"))


# The mappings by module type: fusion (LinearReLU) and the QAT swap (qat.Linear) make new
# module types, which prepare must add to the mapping (_update_qconfig_for_fusion / _qat).
def _by_type(qconfig) -> QConfigMapping:
    return QConfigMapping().set_object_type(nn.Linear, qconfig).set_object_type(nn.ReLU, qconfig)


PRESETS.update({
    "x86-by-type": ConfigPreset("x86-by-type", lambda: _by_type(get_default_qconfig("x86")), get_x86_backend_config,
                                tags=("static", "object-type")),
    "x86-qat-by-type": ConfigPreset("x86-qat-by-type", lambda: _by_type(get_default_qat_qconfig_mapping("x86").global_qconfig),
                                    get_x86_backend_config, is_qat=True, tags=("qat", "object-type")),
    "x86-equalization-by-type": ConfigPreset(
        "x86-equalization-by-type", lambda: get_default_qconfig_mapping("x86"), get_x86_backend_config,
        equalization_config=lambda: _by_type(default_equalization_qconfig), tags=("static", "equalization", "object-type")),
})


def _two_dtypes_mapping() -> QConfigMapping:
    # one input, two consumers whose activation observers are one class with two dtypes
    return (QConfigMapping().set_global(QConfig(activation=MinMaxObserver.with_args(dtype=torch.quint8),
                                                weight=default_weight_observer))
            .set_module_name("signed", QConfig(activation=MinMaxObserver.with_args(dtype=torch.qint8),
                                               weight=default_weight_observer)))


def _two_dtypes_backend():
    from torch.ao.quantization.backend_config import BackendConfig, BackendPatternConfig, DTypeConfig, ObservationType

    pattern = BackendPatternConfig(nn.Linear).set_observation_type(ObservationType.OUTPUT_USE_DIFFERENT_OBSERVER_AS_INPUT)
    for dtype in (torch.quint8, torch.qint8):
        pattern.add_dtype_config(DTypeConfig(input_dtype=dtype, output_dtype=dtype, weight_dtype=torch.qint8,
                                             bias_dtype=torch.float))
    return BackendConfig("two-dtypes").set_backend_pattern_config(pattern)


def _dynamic_matmul_backend():
    from torch.ao.quantization.backend_config import BackendConfig, BackendPatternConfig, DTypeConfig, ObservationType

    return BackendConfig("dynamic-matmul").set_backend_pattern_config(
        BackendPatternConfig(torch.matmul)
        .set_observation_type(ObservationType.OUTPUT_USE_DIFFERENT_OBSERVER_AS_INPUT)
        .add_dtype_config(DTypeConfig(input_dtype=torch.quint8, output_dtype=torch.float, is_dynamic=True)))


PRESETS.update({
    "two-dtypes-static": ConfigPreset("two-dtypes-static", _two_dtypes_mapping, _two_dtypes_backend,
                                      tags=("static", "mixed-dtypes")),
    # a dynamic op with two activation inputs: only the first is observed
    "dynamic-matmul": ConfigPreset("dynamic-matmul", lambda: QConfigMapping().set_global(default_dynamic_qconfig),
                                   _dynamic_matmul_backend, tags=("dynamic",)),
})


PRESETS["x86-functional-linear-float"] = ConfigPreset(
    "x86-functional-linear-float", lambda: get_default_qconfig_mapping("x86").set_object_type(F.linear, None),
    get_x86_backend_config, tags=("static", "none-qconfig"))
# A backend that takes any input and output dtype: its checks reach the weight, bias and
# output constructors even of nodes left in float or holding no tensor.
PRESETS["support-anything-linear-float"] = ConfigPreset(
    "support-anything-linear-float", lambda: get_default_qconfig_mapping("x86").set_object_type(F.linear, None),
    _support_backend(input=None, output=None, weight=None), tags=("static", "none-qconfig", "backend-support"))
# nn.Linear left in float by type: a parametrized Linear (weight_norm) is still an nn.Linear
# to the qconfig lookup (type_before_parametrizations), in PTQ and in the QAT swap.
PRESETS["x86-linear-float"] = ConfigPreset(
    "x86-linear-float", lambda: get_default_qconfig_mapping("x86").set_object_type(torch.nn.Linear, None),
    get_x86_backend_config, tags=("static", "none-qconfig", "object-type"))
PRESETS["x86-qat-linear-float"] = ConfigPreset(
    "x86-qat-linear-float", lambda: get_default_qat_qconfig_mapping("x86").set_object_type(torch.nn.Linear, None),
    get_x86_backend_config, is_qat=True, tags=("qat", "none-qconfig", "object-type"))
