"""Every model torchvision lists (classification, quantization with quantize=False,
segmentation, video, detection, optical flow), built with weights=None and
weights_backbone=None, on the meta device where that works.

New torchvision releases' models appear by themselves (the list comes from
`torchvision.models.list_models`); the models FX cannot trace are in EXCLUDED with the
trace error, which `obsconf list --excluded` prints and a test keeps true.
"""

from __future__ import annotations

import contextlib
from unittest import mock

import torch

from .recipe import Recipe

KINDS = ("", "quantization", "segmentation", "video", "detection", "optical_flow")

# Models FX symbolic tracing cannot trace, with the error prepare_fx raises (torchvision 0.29).
_DETECTION_ERROR = (
    "TraceError: Proxy object cannot be iterated. This can be attempted when the Proxy is used in a loop "
    "or as a *args or **kwargs function argument. See the torch.fx docs on pytorch.org for a more detailed "
    "explanation of what types of control flow can be traced, and check out the Proxy docstring for help "
    "troubleshooting Proxy iteration errors"
)
_FLOW_ERROR = "TraceError: symbolically traced variables cannot be used as inputs to control flow"
EXCLUDED = {
    **{
        name: _DETECTION_ERROR
        for name in (
            "fasterrcnn_mobilenet_v3_large_320_fpn",
            "fasterrcnn_mobilenet_v3_large_fpn",
            "fasterrcnn_resnet50_fpn",
            "fasterrcnn_resnet50_fpn_v2",
            "fcos_resnet50_fpn",
            "keypointrcnn_resnet50_fpn",
            "maskrcnn_resnet50_fpn",
            "maskrcnn_resnet50_fpn_v2",
            "retinanet_resnet50_fpn",
            "retinanet_resnet50_fpn_v2",
            "ssd300_vgg16",
            "ssdlite320_mobilenet_v3_large",
        )
    },
    "raft_large": _FLOW_ERROR,
    "raft_small": _FLOW_ERROR,
}

# Built on the CPU: prepare_qat_fx of these on the meta device fails while copying a
# meta tensor ("Cannot copy out of meta tensor"), and they are small enough.
NOT_ON_META = {"densenet121", "densenet161", "densenet169", "densenet201", "maxvit_t", "mc3_18", "r3d_18"}

# googlenet and inception add auxiliary classifiers only when weights are requested, and
# init_weights=False skips a scipy-based truncated-normal init the meta device cannot run.
_NO_AUX = {"aux_logits": False, "init_weights": False}
EXTRA_KWARGS = {name: _NO_AUX for name in ("googlenet", "inception_v3", "quantized_googlenet", "quantized_inception_v3")}

INPUT_SHAPES = {
    "inception_v3": (1, 3, 299, 299),
    "quantized_inception_v3": (1, 3, 299, 299),
    "mc3_18": (1, 3, 16, 112, 112),
    "r3d_18": (1, 3, 16, 112, 112),
    "r2plus1d_18": (1, 3, 16, 112, 112),
    "s3d": (1, 3, 16, 224, 224),
    "mvit_v1_b": (1, 3, 16, 224, 224),
    "mvit_v2_s": (1, 3, 16, 224, 224),
    "swin3d_t": (1, 3, 16, 112, 112),
    "swin3d_s": (1, 3, 16, 112, 112),
    "swin3d_b": (1, 3, 16, 112, 112),
}


def models_by_kind() -> dict[str, list[str]]:
    """kind ('classification', 'quantization', ...) -> model names, as torchvision lists them."""
    import torchvision.models as tvm

    result = {}
    for kind in KINDS:
        module = getattr(tvm, kind) if kind else tvm
        result[kind or "classification"] = sorted(tvm.list_models(module=module))
    return result


@contextlib.contextmanager
def _regnet_block_params_on_cpu():
    """RegNet computes its block widths with tensor ops and reads them back with .tolist(),
    which the meta device cannot do: compute those on the CPU, allocate weights on meta."""
    from torchvision.models import regnet

    original = regnet.BlockParams.from_init_params.__func__

    def on_cpu(cls, *args, **kwargs):
        with torch.device("cpu"):
            return original(cls, *args, **kwargs)

    with mock.patch.object(regnet.BlockParams, "from_init_params", classmethod(on_cpu)):
        yield


def builder(name: str, kind: str):
    def build() -> torch.nn.Module:
        import torchvision

        kwargs = {"weights": None, **EXTRA_KWARGS.get(name, {})}
        if kind in ("segmentation", "detection"):
            kwargs["weights_backbone"] = None
        if kind == "quantization":
            kwargs["quantize"] = False
        fix = _regnet_block_params_on_cpu() if name.startswith("regnet") else contextlib.nullcontext()
        with fix:
            return torchvision.models.get_model(name, **kwargs)

    build.__name__ = f"build_{name}"
    return build


def _inputs(name: str):
    shape = INPUT_SHAPES.get(name, (1, 3, 224, 224))
    return lambda: (torch.randn(*shape),)


# The presets every model runs under, and the representative models that also run under
# the rest of the config matrix (one or two per architecture family, the small ones).
PRESETS_FOR_ALL = ("x86-static", "x86-qat")
MATRIX_MODELS = {
    "resnet18", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "convnext_tiny", "vit_b_16", "swin_t",
    "regnet_x_400mf", "shufflenet_v2_x0_5", "squeezenet1_0", "densenet121", "googlenet", "quantized_resnet18",
    "quantized_mobilenet_v3_large", "lraspp_mobilenet_v3_large", "r2plus1d_18",
}
# Not qnnpack-symmetric: its constraint check compares eps with the backend's minimum
# scale, which fails on the meta device (Tensor.item() cannot be called on meta tensors);
# the zoo's executorch cases and the rules family cover symmetric qint8.
MATRIX_PRESETS = ("qnnpack-static", "fbgemm-static", "onednn-static", "qnnpack-qat", "x86-dynamic", "native-fp16",
                  "x86-dynamic-fp16")


def _recipes() -> list[Recipe]:
    try:
        by_kind = models_by_kind()
    except Exception:  # noqa: BLE001 (absent, or built for another torch: its C ops do not load)
        # no torchvision that works with this torch (a release newer than any torchvision
        # on PyPI, or a mismatched build): the family is empty, and a run with --ledger
        # skips its goldens with that reason
        return []
    recipes = []
    for kind, names in by_kind.items():
        for name in names:
            if name in EXCLUDED:
                continue
            presets = PRESETS_FOR_ALL + (MATRIX_PRESETS if name in MATRIX_MODELS else ())
            recipes.append(
                Recipe("torchvision", name, builder(name, kind), _inputs(name), tags=("torchvision", kind),
                       presets=presets, meta=name not in NOT_ON_META)
            )
    return recipes


RECIPES = _recipes()


def excluded() -> list[tuple[str, str]]:
    """(model, reason) for every torchvision model left out of the corpus."""
    return sorted((f"torchvision/{name}", f"FX cannot trace it: {reason}") for name, reason in EXCLUDED.items())
