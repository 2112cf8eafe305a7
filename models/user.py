"""The `user` family: models outside obsconf that someone saved as cases with
`obsconf compare ... --save-case NAME` (models/user_cases.json). Each names its builder
(`package.module:callable`, importable from where obsconf runs), its example input
shapes, a preset and optionally a backend. A builder that cannot be imported makes that
case an error, not the corpus."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import torch

from .configs import PRESETS
from .recipe import Case, ConfigPreset, Recipe

FILE = Path(__file__).resolve().parent / "user_cases.json"


def load_entries(path: Path = FILE) -> list[dict]:
    if not path.is_file():
        return []
    return json.loads(path.read_text(encoding="utf-8"))


class CompareError(ValueError):
    """A model, inputs, preset or backend that cannot be used; one line naming it."""


def parse_shapes(text: str) -> tuple:
    """`1x3x8x8,1x4` -> (randn(1, 3, 8, 8), randn(1, 4)), seeded."""
    try:
        shapes = [tuple(int(d) for d in part.split("x")) for part in text.split(",") if part]
    except ValueError:
        raise CompareError(f"example inputs {text!r}: expected shapes like 1x3x8x8,1x4 or pkg.mod:callable") from None
    generator = torch.Generator().manual_seed(0)
    return tuple(torch.randn(*s, generator=generator) for s in shapes)


def make_case(model, example_inputs, qconfig: str = "x86-static", backend: str | None = None,
              name: str = "model", family: str = "compare") -> Case:
    """A case for a model outside the corpus."""
    if qconfig not in PRESETS:
        raise CompareError(f"unknown qconfig preset {qconfig!r} (known: {', '.join(sorted(PRESETS))})")
    preset = PRESETS[qconfig]
    if backend is not None:
        from models.graphs import BACKENDS, backend_config

        if backend not in BACKENDS:
            raise CompareError(f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
        preset = ConfigPreset(f"{qconfig}+{backend}", preset.qconfig_mapping, lambda: backend_config(backend),
                              preset.is_qat, preset.equalization_config, preset.tags)
    if isinstance(model, torch.nn.Module):
        template = model
        build: Callable[[], torch.nn.Module] = lambda: copy.deepcopy(template)  # noqa: E731
    elif callable(model):
        build = model
    else:
        raise CompareError(f"model {model!r}: expected an nn.Module or a callable that builds one")
    inputs = example_inputs if callable(example_inputs) else (lambda: example_inputs)
    return Case(Recipe(family, name, build, inputs, presets=(preset,)), preset)


def _builder(spec: str):
    def build():
        from conformance.contract import load

        return load(spec).prepare()  # Implementation is just (name, callable): reuse the importer

    return build


def _recipes() -> list[Recipe]:
    recipes = []
    for entry in load_entries():
        case = make_case(_builder(entry["model"]), lambda shapes=entry["inputs"]: parse_shapes(shapes),
                         entry["preset"], entry.get("backend"), name=entry["name"], family="user")
        recipes.append(case.recipe)
    return recipes


RECIPES = _recipes()
