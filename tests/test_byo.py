"""Bring your own model: `obsconf compare` and `conformance.compare` on a model outside the
corpus (a small transformer block written here)."""

import json
import os
from pathlib import Path

import torch
from torch import nn

import conformance
from conformance.cli import main

ROOT = Path(__file__).resolve().parent.parent


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


def test_cli_compare_and_save_case_into_the_users_folder(tmp_path, monkeypatch, capsys):
    args = ["compare", "--model", "tests.test_byo:block", "--example-inputs", "1x4x8", "--qconfig", "x86-static"]
    assert main([*args, "--impl", "torch"]) == 0
    assert "0 difference(s)" in capsys.readouterr().out
    assert main([*args, "--impl", "tests.planted:drop_one_observer", "--backend", "qnnpack"]) == 1
    out = capsys.readouterr().out
    assert "missing observer on x -> add (arg 0)" in out and "under x86-static+qnnpack" in out
    assert main([*args, "--qconfig", "no-such-preset", "--impl", "torch"]) == 2

    mine = tmp_path / "my-cases"
    assert main(["--cases", str(mine), *args, "--impl", "torch", "--save-case", "transformer-block"]) == 0
    out = capsys.readouterr().out
    command = f"obsconf --cases {mine} regen -k user/transformer-block/x86-static"
    assert f"saved as case user/transformer-block/x86-static in {mine}/cases.json" in out and command in out
    saved = json.loads((mine / "cases.json").read_text())
    assert saved == [{"name": "transformer-block", "model": "tests.test_byo:block", "inputs": "1x4x8",
                      "preset": "x86-static", "import_root": os.path.relpath(os.getcwd(), mine)}]
    # the suggested command makes the golden in the user's folder; runs then pick the case up
    assert main(command.split()[1:]) == 0
    assert (mine / "golden" / "user" / "transformer-block" / "x86-static.plan").is_file()
    capsys.readouterr()
    assert main(["--cases", str(mine), "run", "--impl", "reference", "-k", "user/", "-v", "-j", "1"]) == 0
    assert "CONFORM user/transformer-block/x86-static" in capsys.readouterr().out
    assert main(["--cases", str(mine), "regen", "--check", "-k", "user/"]) == 0
    # without --cases the corpus is obsconf's own, and obsconf's checkout has no trace of it
    assert main(["list", "-k", "user/"]) == 2
    assert not (ROOT / "golden" / "user").exists() and not (ROOT / "models" / "user_cases.json").exists()


def test_a_case_name_is_one_safe_path_part(tmp_path, capsys):
    args = ["--cases", str(tmp_path / "mine"), "compare", "--model", "tests.test_byo:block", "--example-inputs",
            "1x4x8", "--impl", "torch", "--save-case"]
    for name in ("../../evil", "x" * 300, "my model *", "a/b", ".hidden", ""):
        assert main([*args, name]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("obsconf: error: case name ") and "\n" not in err
    assert not (tmp_path / "mine").exists() and not (tmp_path / "evil").exists()
    assert main(args[2:] + ["fine"]) == 2  # --save-case without --cases: where would it go?
    assert "--save-case: name the folder of your cases with --cases DIR" in capsys.readouterr().err


def test_example_inputs_the_model_does_not_run_on_and_a_model_that_does_not_import(capsys):
    args = ["compare", "--impl", "torch", "--model"]
    assert main([*args, "tests.test_byo:block", "--example-inputs", "1x4x5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("obsconf: error: example inputs '1x4x5': model 'tests.test_byo:block' does not run on them: ")
    assert main([*args, "tests.no_such_module:block", "--example-inputs", "1x4x8"]) == 2
    assert capsys.readouterr().err.startswith("obsconf: error: model 'tests.no_such_module:block': cannot import")
    assert main([*args, "tests.test_byo:block", "--example-inputs", "1x0x8"]) == 2
    assert "expected shapes like 1x3x8x8" in capsys.readouterr().err


def test_a_corrupt_cases_file_is_one_setup_error_and_touches_nothing_else(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "cases.json").write_text('[{"name": "a", "model": ')
    for command in (["list"], ["run", "--impl", "reference", "-k", "user/"], ["regen", "--check", "-k", "user/"]):
        assert main(["--cases", str(mine), *command]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"obsconf: error: cases file {mine}/cases.json: not JSON: ") and "\n" not in err
    (mine / "cases.json").write_text('[{"name": "a/../b", "model": "m:b", "inputs": "1x2", "preset": "x86-static"}]')
    assert main(["--cases", str(mine), "list"]) == 2
    assert f"cases file {mine}/cases.json: entry 1: case name 'a/../b'" in capsys.readouterr().err
    assert main(["--cases", str(tmp_path / "nope"), "list"]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["list", "-k", "patterns/cat/x86-static"]) == 0  # without --cases, nothing of it matters
