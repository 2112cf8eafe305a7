"""The corpus: every case obsconf knows, as data."""

from __future__ import annotations

import functools

from . import hypothesis_graphs, lstm, negative, patterns, pt2e, rules, standalone, torchvision_models, user, zoo
from .configs import DEFAULT_PRESETS, PRESETS
from .recipe import Case, CaseInputs, ConfigPreset, Recipe, SkipCase

FAMILIES = (torchvision_models, patterns, rules, lstm, standalone, zoo, negative, hypothesis_graphs, pt2e, user)

__all__ = ["Case", "CaseInputs", "ConfigPreset", "Recipe", "SkipCase", "PRESETS", "all_cases", "all_recipes", "excluded"]


def all_recipes() -> list[Recipe]:
    """The corpus's recipes, and those of the user's cases folder (`--cases DIR`)."""
    return [r for family in FAMILIES for r in family.RECIPES] + user.recipes()


def excluded() -> list[tuple[str, str]]:
    """(id, reason) for every model, pattern or case the corpus leaves out: a torchvision
    model as `torchvision/<name>`, a zoo pattern as `zoo/<backend>/<pattern>[/<preset>]`."""
    entries = []
    for family in FAMILIES:
        for name, reason in getattr(family, "excluded", lambda: [])():
            entries.append((name if "/" in name else f"{family.RECIPES[0].family}/{name}", reason))
    return sorted(entries)


def all_cases() -> tuple[Case, ...]:
    """Every case, sorted by id; ids are unique."""
    return _all_cases(user.folder())


@functools.cache
def _all_cases(user_folder) -> tuple[Case, ...]:
    cases = []
    for recipe in all_recipes():
        names = recipe.presets if recipe.presets is not None else DEFAULT_PRESETS
        for name in names:
            # a generated case carries its own preset; the rest name one of PRESETS
            preset = name if isinstance(name, ConfigPreset) else PRESETS[name]
            negative = ("rejects",) if preset.name in recipe.rejects else ()
            cases.append(Case(recipe, preset, tags=tuple(dict.fromkeys(recipe.tags + preset.tags + negative))))
    ids = [c.id for c in cases]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"duplicate case ids in models/: {sorted(duplicates)}")
    return tuple(sorted(cases, key=lambda c: c.id))
