"""Where a user's own cases live: `--cases DIR` (any command, or $OBSCONF_CASES).

DIR/cases.json lists the cases (`obsconf compare ... --save-case NAME` writes it; see
models/user.py) and DIR/golden/ holds their goldens (`obsconf --cases DIR regen -k
user/`). Kept apart from models/user.py, which imports torch, so that the case index and
the golden store find the folder without it.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "OBSCONF_CASES"


class UserCasesError(ValueError):
    """A cases folder or file that cannot be used; one line naming it (exit 2)."""
CASES_FILE, GOLDEN_FOLDER = "cases.json", "golden"


def folder() -> Path | None:
    """The user's cases folder, or None."""
    chosen = os.environ.get(ENV)
    return Path(chosen) if chosen else None


def choose(path: str | os.PathLike) -> None:
    """`--cases DIR`: this process and the workers it starts use the cases in `path`."""
    os.environ[ENV] = os.fspath(Path(path).expanduser().resolve())


def cases_file(root: Path | None = None) -> Path | None:
    root = root if root is not None else folder()
    return root / CASES_FILE if root is not None else None


def golden_root() -> Path | None:
    """Where the goldens of the user's cases live: DIR/golden."""
    root = folder()
    return root / GOLDEN_FOLDER if root is not None else None
