"""The `user` family: a user's own models, saved as cases in a folder of their own.

`obsconf --cases DIR compare ... --save-case NAME` records a model outside obsconf in
DIR/cases.json; `obsconf --cases DIR regen -k user/` writes its goldens into DIR/golden/,
and `obsconf --cases DIR run ...` (or the plugin's `--obsconf-cases DIR`) runs them with
the corpus. The folder belongs to the user (their project); nothing of it goes into
obsconf's checkout, and without `--cases` the family is empty.

Each entry names its builder (`package.module:callable`), importable from the folder
the user saved it from (recorded relative to DIR as `import_root`), its example input
shapes, a preset and optionally a backend. A builder that cannot be imported makes that
case an error, not the corpus; a cases file that does not read is one setup error naming
the file and the entry.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from conformance.cases_folder import UserCasesError, cases_file, folder

from .configs import PRESETS
from .recipe import Case, ConfigPreset, Recipe

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")
FIELDS = {"name": str, "model": str, "inputs": str, "preset": str, "backend": str, "import_root": str}


class CompareError(ValueError):
    """A model, inputs, preset or backend that cannot be used; one line naming it."""


def check_name(name: str) -> str:
    """A case name is one path part a user can type: letters, digits, `_`, `.`, `-`, at
    most 80 characters, starting with a letter or digit (no `/`, `..`, glob or space)."""
    if not NAME.fullmatch(name):
        shown = name if len(name) <= 40 else name[:37] + "..."
        raise CompareError(f"case name {shown!r}: use letters, digits, '_', '.' and '-' (at most 80, no '/', "
                           f"spaces or glob characters), starting with a letter or digit")
    return name


def load_entries(path: Path | None = None) -> list[dict]:
    """The entries of a cases file, checked; [] when there is none."""
    path = path if path is not None else cases_file()
    if path is None or not path.exists():
        return []
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UserCasesError(f"cases file {path}: unreadable: {exc}") from None
    except ValueError as exc:
        raise UserCasesError(f"cases file {path}: not JSON: {exc}") from None
    if not isinstance(entries, list):
        raise UserCasesError(f"cases file {path}: expected a list of cases, got {type(entries).__name__}")
    for i, entry in enumerate(entries):
        where = f"cases file {path}: entry {i + 1}"
        if not isinstance(entry, dict):
            raise UserCasesError(f"{where}: expected an object, got {type(entry).__name__}")
        missing = [k for k in ("name", "model", "inputs", "preset") if k not in entry]
        wrong = [k for k, v in entry.items() if k not in FIELDS or not isinstance(v, FIELDS[k])]
        if missing or wrong:
            raise UserCasesError(f"{where}: " + "; ".join(
                ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unknown or not text: {', '.join(wrong)}"] if wrong else [])))
        try:
            check_name(entry["name"])
        except CompareError as exc:
            raise UserCasesError(f"{where}: {exc}") from None
        if entry["preset"] not in PRESETS:
            raise UserCasesError(f"{where}: unknown preset {entry['preset']!r}")
    return entries


def parse_shapes(text: str) -> tuple:
    """`1x3x8x8,1x4` -> (randn(1, 3, 8, 8), randn(1, 4)), seeded."""
    try:
        shapes = [tuple(int(d) for d in part.split("x")) for part in text.split(",") if part]
        if not shapes or any(not s or min(s) < 1 for s in shapes):
            raise ValueError
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


def _builder(spec: str, import_root: Path | None):
    def build():
        from conformance.contract import load

        if import_root is not None and str(import_root) not in sys.path:
            sys.path.insert(0, str(import_root))
        return load(spec, what="model").prepare()  # Implementation is just (name, callable): reuse the importer

    return build


def recipes() -> list[Recipe]:
    """The recipes of the user's cases folder ([] without one); UserCasesError when its
    cases file does not read."""
    root = folder()
    found = []
    for entry in load_entries():
        import_root = (root / entry["import_root"]).resolve() if "import_root" in entry else root
        case = make_case(_builder(entry["model"], import_root), lambda shapes=entry["inputs"]: parse_shapes(shapes),
                         entry["preset"], entry.get("backend"), name=entry["name"], family="user")
        found.append(case.recipe)
    return found


def save(name: str, model: str, inputs: str, preset: str, backend: str | None, root: Path) -> Path:
    """Record a case in `root`/cases.json (replacing one of that name and preset); the
    cases file."""
    from conformance.golden import write_atomic

    check_name(name)
    path = cases_file(root)
    entries = [e for e in load_entries(path) if (e["name"], e["preset"]) != (name, preset)]
    entry = {"name": name, "model": model, "inputs": inputs, "preset": preset,
             "import_root": os.path.relpath(Path.cwd(), root.resolve())}
    if backend:
        entry["backend"] = backend
    entries.append(entry)
    write_atomic(path, json.dumps(sorted(entries, key=lambda e: (e["name"], e["preset"])), indent=1) + "\n")
    return path


RECIPES: list[Recipe] = []  # the corpus's own: none (see recipes())
