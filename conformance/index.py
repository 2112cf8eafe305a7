"""The case index: every case id with its tags, without importing torch.

Building the corpus (`models.all_cases()`) imports torch and torchvision, 3 s or more,
which `obsconf list`, `show` and a mistyped case id should not wait for. The index is
that list written to the cache, under a digest of everything it depends on: the bytes
of every file under models/ (recipes, frozen Hypothesis graphs, user cases), the
installed torch and torchvision and the Python release. Any change there gives another
digest, so another file, built afresh on first use. An unreadable index is rebuilt; one
that cannot be written (a read-only folder) is only not kept.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from importlib import metadata
from pathlib import Path

from . import cache, cases_folder

MODELS = Path(__file__).resolve().parent.parent / "models"
SCHEMA = 1
KEEP = 8  # indexes kept besides the current one


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "none"


def digest(user_cases: Path | None = None) -> str:
    """What the case list depends on, as one hash: with a user's cases file, its path
    and bytes too."""
    h = hashlib.sha256(f"index {SCHEMA} python {sys.version_info[:2]} torch {_version('torch')} "
                       f"torchvision {_version('torchvision')} torchao {_version('torchao')}\n".encode())
    for path in sorted(p for p in MODELS.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(f"{path.relative_to(MODELS).as_posix()}\n".encode())
        h.update(path.read_bytes())
    if user_cases is not None:
        h.update(f"user cases {user_cases}\n".encode())
        try:
            h.update(user_cases.read_bytes())
        except OSError:
            pass  # no such file: no user cases
    return h.hexdigest()[:20]


def entries() -> list[tuple[str, tuple[str, ...]]]:
    """(case id, tags) of every case, sorted by id: from the cached index when it is current.
    Read once per process and cache folder (a command asks several times; each read hashes models/)."""
    return _entries(MODELS, cache.root(), cases_folder.cases_file())


@functools.cache
def _entries(models: Path, root: Path, user_cases: Path | None) -> list[tuple[str, tuple[str, ...]]]:
    path = root / "case-index" / f"{digest(user_cases)}.json"
    try:
        data = json.loads(path.read_text())
        if data.get("schema") == SCHEMA:
            return [(case_id, tuple(tags)) for case_id, tags in data["cases"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    from models import all_cases

    found = [(c.id, tuple(c.tags)) for c in all_cases()]
    try:
        from .golden import write_atomic

        write_atomic(path, json.dumps({"schema": SCHEMA, "cases": found}) + "\n")
        # indexes of corpora that are no more; a few are kept: with and without a user's
        # cases folder (--cases) are two corpora in use at once
        older = sorted((p for p in path.parent.glob("*.json") if p != path), key=lambda p: p.stat().st_mtime)
        for old in older[:-KEEP]:
            old.unlink()
    except OSError:
        pass  # a folder we may not write to: build it again next time
    return found
