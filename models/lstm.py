"""Custom-module LSTM: nn.LSTM swapped for torch.ao.nn.quantizable.LSTM."""

from __future__ import annotations

import torch
from torch import nn
from torch.ao.quantization.fx.custom_config import PrepareCustomConfig

from .configs import STATIC_AND_QAT
from .recipe import Recipe


def lstm_custom_config(_preset) -> PrepareCustomConfig:
    import torch.ao.nn.quantizable as nnqa

    return PrepareCustomConfig().set_float_to_observed_mapping(nn.LSTM, nnqa.LSTM)


class LinearLSTMLinear(nn.Module):
    """The LSTM's output and hidden state are both used after it."""

    def __init__(self):
        super().__init__()
        self.linear_in = nn.Linear(4, 6)
        self.lstm = nn.LSTM(6, 5, num_layers=1)
        self.linear_out = nn.Linear(5, 3)

    def forward(self, x):
        out, (h, c) = self.lstm(self.linear_in(x))
        return self.linear_out(out), h + c


RECIPES = [
    Recipe(
        "lstm",
        "linear-lstm-linear",
        LinearLSTMLinear,
        lambda: (torch.randn(3, 2, 4),),
        tags=("lstm", "custom-module"),
        prepare_custom_config=lstm_custom_config,
        presets=STATIC_AND_QAT,
    ),
]
