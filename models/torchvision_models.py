"""torchvision classification models, built with weights=None on the meta device."""

from __future__ import annotations

import torch

from .recipe import Recipe

# The first corpus: a spread of architectures (residual, depthwise, squeeze-excite,
# channel shuffle, dense concat, plain stacks, layer norm). Issue 4 grows this to
# every traceable model.
CLASSIFICATION = (
    "resnet18",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "squeezenet1_0",
    "shufflenet_v2_x0_5",
    "efficientnet_b0",
    "densenet121",
    "alexnet",
    "vgg11",
    "mnasnet0_5",
    "googlenet",
    "convnext_tiny",
)

# Builder keywords beyond weights=None: googlenet and inception add auxiliary
# classifiers only when weights are requested, and init_weights=False skips a
# scipy-based truncated-normal init that the meta device cannot run.
EXTRA_KWARGS = {
    "googlenet": {"aux_logits": False, "init_weights": False},
}


def _builder(name: str):
    def build() -> torch.nn.Module:
        import torchvision

        return torchvision.models.get_model(name, weights=None, **EXTRA_KWARGS.get(name, {}))

    build.__name__ = f"build_{name}"
    return build


def _inputs():
    return (torch.randn(1, 3, 224, 224),)


# Built on the CPU: prepare_qat_fx of densenet121 on the meta device fails while
# copying a meta tensor ("Cannot copy out of meta tensor").
NOT_ON_META = {"densenet121"}

RECIPES = [
    Recipe(
        "torchvision",
        name,
        _builder(name),
        _inputs,
        tags=("torchvision", "classification"),
        meta=name not in NOT_ON_META,
    )
    for name in CLASSIFICATION
]
