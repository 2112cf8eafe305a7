"""Recipes, configuration presets and cases: the corpus as data.

A recipe builds a float model and its example inputs; a preset names a qconfig
mapping, a backend config and PTQ or QAT; a case is one recipe under one preset,
with the id `family/recipe/preset`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch


class SkipCase(Exception):
    """Raised by a builder when this environment cannot build the case (reason in the message)."""


@dataclass(frozen=True)
class ConfigPreset:
    name: str
    qconfig_mapping: Callable[[], Any]
    backend_config: Callable[[], Any]
    is_qat: bool = False
    equalization_config: Callable[[], Any] | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recipe:
    family: str
    name: str
    build: Callable[[], torch.nn.Module]
    example_inputs: Callable[[], tuple]
    tags: tuple[str, ...] = ()
    # preset -> PrepareCustomConfig (custom modules, standalone modules), or None
    prepare_custom_config: Callable[[ConfigPreset], Any] | None = None
    # names of the presets this recipe runs under (or, for a generated case, its own
    # ConfigPreset); None means the default presets
    presets: tuple | None = None
    # build on the meta device: no weights are materialised (big torchvision models)
    meta: bool = False
    # names of the presets under which prepare refuses the recipe: negative cases, tag
    # `rejects`, whose golden records the oracle's exception
    rejects: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    recipe: Recipe
    preset: ConfigPreset
    tags: tuple[str, ...] = field(default=())

    @property
    def id(self) -> str:
        return f"{self.recipe.family}/{self.recipe.name}/{self.preset.name}"

    @property
    def is_qat(self) -> bool:
        return self.preset.is_qat

    def materialise(self) -> "CaseInputs":
        """Fresh inputs for one IUT call: IUTs may mutate the model and configs."""
        if self.recipe.meta:
            with torch.device("meta"), _no_init_of_meta_tensors():
                model = self.recipe.build()
                example_inputs = self.recipe.example_inputs()
        else:
            torch.manual_seed(0)
            model = self.recipe.build()
            example_inputs = self.recipe.example_inputs()
        model.train(self.is_qat)
        pcc = self.recipe.prepare_custom_config
        return CaseInputs(
            model=model,
            qconfig_mapping=self.preset.qconfig_mapping(),
            example_inputs=example_inputs,
            is_qat=self.is_qat,
            prepare_custom_config=pcc(self.preset) if pcc else None,
            backend_config=self.preset.backend_config(),
            equalization_config=self.preset.equalization_config() if self.preset.equalization_config else None,
        )


@contextlib.contextmanager
def _no_init_of_meta_tensors():
    """torch.nn.init's in-place initialisers leave a meta tensor as it was (it has no data),
    yet under the meta device mode each costs a round of Python dispatch: most of the time
    a big model takes to build. Skip them for meta tensors only; any other tensor is
    initialised as usual."""
    import torch.nn.init as init

    saved = {name: getattr(init, name) for name in dir(init)
             if name.endswith("_") and not name.startswith("_") and callable(getattr(init, name))}

    def skipping(original):
        @functools.wraps(original)
        def initialise(tensor, *args, **kwargs):
            return tensor if getattr(tensor, "is_meta", False) else original(tensor, *args, **kwargs)
        return initialise

    for name, original in saved.items():
        setattr(init, name, skipping(original))
    try:
        yield
    finally:
        for name, original in saved.items():
            setattr(init, name, original)


@dataclass
class CaseInputs:
    model: torch.nn.Module
    qconfig_mapping: Any
    example_inputs: tuple
    is_qat: bool
    prepare_custom_config: Any
    backend_config: Any
    equalization_config: Any

    def kwargs(self) -> dict[str, Any]:
        return dict(
            is_qat=self.is_qat,
            prepare_custom_config=self.prepare_custom_config,
            backend_config=self.backend_config,
            equalization_config=self.equalization_config,
        )
