"""The `hypothesis` family: generated graphs frozen into the corpus.

Each case is one JSON file in `models/generated/` holding a graph spec and a config
spec (see `models/graphs.py`), the seed and torch version it was found with, and why
it was frozen. They come from `obsconf fuzz --freeze` (a sample of the generator) and
from `obsconf regen --accept` (shrunk divergences that `obsconf fuzz` wrote to
`models/generated/pending/`). A file that cannot be read is an error of that case only.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import graphs
from .recipe import Recipe

FAMILY = "hypothesis"
FROZEN_DIR = Path(__file__).resolve().parent / "generated"
PENDING_DIR = FROZEN_DIR / "pending"


def load_case(path: Path):
    """(spec, case) of a frozen or pending file, checked once (`graphs.to_case` checks the
    graph and the config); SpecError names the file when it cannot be read."""
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
        return spec, graphs.to_case(spec, FAMILY, name=path.stem)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise graphs.SpecError(f"{path.name}: unreadable generated case: {exc}") from None


def load_spec(path: Path) -> dict:
    """A frozen spec, checked; SpecError names the file when it cannot be read."""
    return load_case(path)[0]


PT2E_DIR = FROZEN_DIR / "pt2e"  # generated cases of prepare_pt2e's path (the pt2e family's)


def frozen_dir_for(spec: dict, frozen: Path | None = None) -> Path:
    """Where a frozen spec lives: the pt2e folder for prepare_pt2e's path (inside `frozen`
    when one is given), else `frozen` (default: models/generated/)."""
    base = frozen or FROZEN_DIR
    if spec.get("config", {}).get("path") == graphs.PT2E:
        return PT2E_DIR if frozen is None else base / "pt2e"
    return base


def frozen_files(folder: Path | None = None) -> list[Path]:
    folder = folder or FROZEN_DIR
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


BROKEN = "unreadable"  # the preset of a broken file whose config cannot be made out either


def _broken_recipe(path: Path, reason: str) -> Recipe:
    """A case that errs with the reason instead of taking the corpus down. It keeps the
    id it had (so its golden stays its own, not an orphan) where the file's config can
    still be made out."""

    def fail():
        raise graphs.SpecError(reason)

    from .recipe import ConfigPreset

    preset = ConfigPreset(_salvaged_preset_name(path), fail, fail)
    return Recipe(FAMILY, path.stem, fail, fail, presets=(preset,))


def _salvaged_preset_name(path: Path) -> str:
    """A broken file's preset name: from its config when that reads, else from the config
    as written (a truncated or hand-damaged file keeps its first lines), else BROKEN."""
    import re

    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return BROKEN
    try:
        return graphs.preset_name(json.loads(text)["config"])
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    backend = re.search(r'"backend"\s*:\s*"(\w+)"', text)
    if backend is None:
        return BROKEN
    return graphs.preset_name({"backend": backend.group(1), "qat": re.search(r'"qat"\s*:\s*true', text) is not None})


def _recipes(folder: Path | None = None) -> list[Recipe]:
    recipes = []
    for path in frozen_files(folder):
        try:
            recipes.append(load_case(path)[1].recipe)
        except graphs.SpecError as exc:
            recipes.append(_broken_recipe(path, str(exc)))
    return recipes


RECIPES = _recipes()
