"""The configuration presets: the qconfig mappings and backends people use."""

from __future__ import annotations

from torch.ao.quantization import (
    QConfigMapping,
    default_dynamic_qconfig,
    float16_static_qconfig,
    get_default_qat_qconfig_mapping,
    get_default_qconfig_mapping,
)
from torch.ao.quantization.backend_config import get_native_backend_config, get_qnnpack_backend_config
from torch.ao.quantization.backend_config.x86 import get_x86_backend_config

from .recipe import ConfigPreset


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
