"""Standalone modules: prepared on their own and kept as one call_module node."""

from __future__ import annotations

import torch
from torch import nn
from torch.ao.quantization.fx.custom_config import PrepareCustomConfig

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


RECIPES = [
    Recipe(
        "standalone",
        "by-name",
        Parent,
        lambda: (torch.randn(1, 3, 8, 8),),
        tags=("standalone",),
        prepare_custom_config=by_name_default,
    ),
]
