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


class TwoLayersBatchFirst(nn.Module):
    """Two layers, batch_first; only the output is used (the hidden state is dropped)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 6, num_layers=2, batch_first=True)
        self.linear = nn.Linear(6, 3)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.linear(out)


class HiddenPassedIn(nn.Module):
    """The hidden state comes in as graph inputs and goes out again, unchanged in shape."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 5)
        self.linear = nn.Linear(5, 2)

    def forward(self, x, h0, c0):
        out, (h, c) = self.lstm(x, (h0, c0))
        return self.linear(out), h, c


class WholeTuple(nn.Module):
    """The LSTM's whole output tuple is returned and also indexed with a getitem chain."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 5)

    def forward(self, x):
        result = self.lstm(x)
        return result, torch.relu(result[1][0])


class TwoLSTMs(nn.Module):
    """Two LSTMs in a row, the second taking the first's output; a linear between them."""

    def __init__(self):
        super().__init__()
        self.first = nn.LSTM(4, 6)
        self.linear = nn.Linear(6, 6)
        self.second = nn.LSTM(6, 3)

    def forward(self, x):
        y, _ = self.first(x)
        z, (h, _) = self.second(self.linear(y))
        return z, h


class CatWithLSTM(nn.Module):
    """cat of a linear's output and the LSTM's: cat shares the linear's observer with the
    LSTM output, found by walking back from its DeQuantStub."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 5)
        self.lstm = nn.LSTM(4, 5)

    def forward(self, x):
        out, _ = self.lstm(x)
        return torch.cat([self.linear(x), out], dim=-1)


class HiddenOnly(nn.Module):
    """Only the final hidden state is used; the output sequence is dropped."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 5, num_layers=3)
        self.linear = nn.Linear(5, 2)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return self.linear(h[-1])


class CellStateChain(nn.Module):
    """The cell state reached through a chain of getitems on the whole result."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 5, bias=False)

    def forward(self, x):
        result = self.lstm(x)
        return result[1][1] * 2, result[0].sum()


class OneLSTMTwice(nn.Module):
    """The same LSTM module called twice: both calls get DeQuantStubs, the module is
    swapped for its observed class once."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 4)

    def forward(self, x):
        y, _ = self.lstm(x)
        z, _ = self.lstm(y)
        return z


def _sequence():
    return (torch.randn(3, 2, 4),)


def _lstm_recipe(name, model, inputs=_sequence, tags=()):
    return Recipe("lstm", name, model, inputs, tags=("lstm", "custom-module") + tags,
                  prepare_custom_config=lstm_custom_config, presets=STATIC_AND_QAT)


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
    _lstm_recipe("two-layers-batch-first", TwoLayersBatchFirst, lambda: (torch.randn(2, 3, 4),), ("batch_first",)),
    _lstm_recipe("hidden-passed-in", HiddenPassedIn, lambda: (torch.randn(3, 2, 4), torch.randn(1, 2, 5),
                                                              torch.randn(1, 2, 5)), ("hidden-state",)),
    _lstm_recipe("whole-tuple", WholeTuple, tags=("getitem",)),
    _lstm_recipe("two-lstms", TwoLSTMs),
    _lstm_recipe("cat-with-lstm", CatWithLSTM, tags=("cat", "sharing")),
    _lstm_recipe("hidden-only", HiddenOnly, tags=("hidden-state",)),
    _lstm_recipe("cell-state-chain", CellStateChain, tags=("getitem",)),
    _lstm_recipe("one-lstm-twice", OneLSTMTwice, tags=("getitem", "shared-module")),
]
