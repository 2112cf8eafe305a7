"""The corpus: every case obsconf knows, as data."""

from __future__ import annotations

import functools

from . import lstm, patterns, rules, standalone, torchvision_models
from .configs import DEFAULT_PRESETS, PRESETS
from .recipe import Case, CaseInputs, ConfigPreset, Recipe, SkipCase

FAMILIES = (torchvision_models, patterns, rules, lstm, standalone)

__all__ = ["Case", "CaseInputs", "ConfigPreset", "Recipe", "SkipCase", "PRESETS", "all_cases", "all_recipes"]


def all_recipes() -> list[Recipe]:
    return [r for family in FAMILIES for r in family.RECIPES]


@functools.cache
def all_cases() -> tuple[Case, ...]:
    """Every case, sorted by id; ids are unique."""
    cases = []
    for recipe in all_recipes():
        names = recipe.presets if recipe.presets is not None else DEFAULT_PRESETS
        for name in names:
            preset = PRESETS[name]
            cases.append(Case(recipe, preset, tags=tuple(dict.fromkeys(recipe.tags + preset.tags))))
    ids = [c.id for c in cases]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"duplicate case ids in models/: {sorted(duplicates)}")
    return tuple(sorted(cases, key=lambda c: c.id))
