"""Small models, one a pattern, each exercising one placement decision."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .recipe import Recipe


class Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(8, 4)

    def forward(self, x):
        return self.linear(x)


class ConvBnReLU(nn.Module):
    """Fused by prepare into ConvReLU2d (PTQ) or ConvBnReLU2d (QAT)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class Add(nn.Module):
    """A binary op with two quantized inputs, then a module relu."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 1)
        self.conv2 = nn.Conv2d(3, 4, 1)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv1(x) + self.conv2(x))


class Cat(nn.Module):
    """cat shares one observer between its inputs and its output."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 1)
        self.conv2 = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return torch.cat([self.conv1(x), self.conv2(x)], dim=1)


class FixedQParams(nn.Module):
    """sigmoid and tanh have fixed output qparams; hardsigmoid as a module."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(8, 8)
        self.hardsigmoid = nn.Hardsigmoid()

    def forward(self, x):
        x = self.linear(x)
        return torch.sigmoid(x), torch.tanh(x), self.hardsigmoid(x)


class GeneralTensorOps(nn.Module):
    """reshape / transpose / flatten reuse their input's observer."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.linear = nn.Linear(4 * 6 * 6, 5)

    def forward(self, x):
        x = self.conv(x)
        x = x.transpose(2, 3).reshape(1, 4, 36)
        x = torch.flatten(x, 1)
        return self.linear(x)


class Embedding(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 8)
        self.linear = nn.Linear(8, 3)

    def forward(self, indices):
        return self.linear(self.emb(indices))


class FunctionalLinear(nn.Module):
    """F.linear with weight and bias as get_attr nodes: weight and bias edges."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 8))
        self.b = nn.Parameter(torch.randn(4))

    def forward(self, x):
        return F.relu(F.linear(x, self.w, self.b))


class MaskedFill(nn.Module):
    """A bool mask argument must not be observed."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(8, 8)

    def forward(self, x, mask):
        return self.linear(x).masked_fill(mask, 0.0)


class NonTensorArgs(nn.Module):
    """size() produces ints, view takes them; add and mul take scalars."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        x = self.conv(x)
        x = x.view(x.size(0), -1)
        return (x + 1.0) * 2


def _image():
    return (torch.randn(1, 3, 8, 8),)


def _vector():
    return (torch.randn(2, 8),)


RECIPES = [
    Recipe("patterns", "linear", Linear, _vector, tags=("linear",)),
    Recipe("patterns", "conv-bn-relu", ConvBnReLU, _image, tags=("conv", "fusion", "bn", "relu")),
    Recipe("patterns", "add", Add, _image, tags=("add", "binary-op")),
    Recipe("patterns", "cat", Cat, _image, tags=("cat", "sharing")),
    Recipe("patterns", "fixed-qparams", FixedQParams, _vector, tags=("fixed-qparams",)),
    Recipe("patterns", "general-tensor-ops", GeneralTensorOps, _image, tags=("general-tensor-op", "reshape")),
    # Not under x86-qat: the default QAT mapping gives nn.Embedding a per-channel
    # symmetric weight fake-quant, which prepare_qat_fx rejects (AssertionError).
    Recipe(
        "patterns",
        "embedding",
        Embedding,
        lambda: (torch.randint(0, 10, (2, 5)),),
        tags=("embedding",),
        # x86-qat: the default QAT mapping gives nn.Embedding a per-channel symmetric weight
        # fake-quant, which prepare_qat_fx refuses (Embedding weights requires ... float_qparams)
        presets=("x86-static", "qnnpack-static", "x86-dynamic", "native-fp16", "x86-qat"),
        rejects=("x86-qat",),
    ),
    Recipe("patterns", "functional-linear", FunctionalLinear, _vector, tags=("functional", "get_attr", "bias")),
    Recipe(
        "patterns",
        "masked-fill",
        MaskedFill,
        lambda: (torch.randn(2, 8), torch.rand(2, 8) > 0.5),
        tags=("masked_fill", "bool-arg"),
    ),
    Recipe("patterns", "non-tensor-args", NonTensorArgs, _image, tags=("non-tensor-arg", "scalar")),
]

