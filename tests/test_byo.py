"""Bring your own model: `obsconf compare` and `conformance.compare` on a model outside the
corpus (a small transformer block written here)."""

import json

import torch
from torch import nn

import conformance
from conformance.cli import main
from conformance.contract import load
from conformance.golden import GoldenStore
from conformance.runner import CONFORM, run_case


class TransformerBlock(nn.Module):
    def __init__(self, dim: int = 8):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.q, self.k, self.v, self.out = (nn.Linear(dim, dim) for _ in range(4))
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):
        h = self.norm1(x)
        scores = torch.matmul(self.q(h), self.k(h).transpose(-2, -1)) * 0.35
        x = x + self.out(torch.matmul(scores.softmax(dim=-1), self.v(h)))
        return x + self.mlp(self.norm2(x))


def block():
    torch.manual_seed(0)
    return TransformerBlock()


def test_the_oracle_agrees_with_itself_and_a_planted_fault_shows():
    inputs = (torch.randn(1, 4, 8),)
    assert conformance.compare(block, inputs, "x86-static", impl="torch", against="torch") == []
    assert conformance.compare(block(), inputs, "x86-qat", impl="torch", against="torch") == []
    differences = conformance.compare(block, inputs, "x86-static", impl="tests.planted:drop_one_observer")
    assert differences == ["missing observer on x -> add (arg 0) [HistogramObserver]"]


def test_cli_compare_and_save_case(tmp_path, monkeypatch, capsys):
    from models import user

    args = ["compare", "--model", "tests.test_byo:block", "--example-inputs", "1x4x8", "--qconfig", "x86-static"]
    assert main([*args, "--impl", "torch"]) == 0
    assert "0 difference(s)" in capsys.readouterr().out
    assert main([*args, "--impl", "tests.planted:drop_one_observer", "--backend", "qnnpack"]) == 1
    out = capsys.readouterr().out
    assert "missing observer on x -> add (arg 0)" in out and "under x86-static+qnnpack" in out
    assert main([*args, "--qconfig", "no-such-preset", "--impl", "torch"]) == 2

    monkeypatch.setattr(user, "FILE", tmp_path / "user_cases.json")
    assert main([*args, "--impl", "torch", "--save-case", "transformer-block"]) == 0
    saved = json.loads((tmp_path / "user_cases.json").read_text())
    assert saved == [{"name": "transformer-block", "model": "tests.test_byo:block", "inputs": "1x4x8",
                      "preset": "x86-static"}]
    monkeypatch.setattr(user, "load_entries", lambda path=None: saved)
    [recipe] = user._recipes()
    from models.recipe import Case

    case = Case(recipe, recipe.presets[0])
    assert case.id == "user/transformer-block/x86-static"
    store = GoldenStore(tmp_path / "golden")
    from conformance.golden import golden_header
    from conformance.runner import produce_plan

    store.write(case.id, produce_plan(case, load("torch")).to_text(golden_header(case.id)))
    assert run_case(case, load("reference"), store).status == CONFORM
