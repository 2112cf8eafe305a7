"""Where obsconf keeps state between commands: the case index, each IUT's last failures
(`run --last-failed`), mutation results (`strength`).

The folder is `--cache-dir DIR` (any command), else $OBSCONF_CACHE_DIR, else the
platform's cache folder: $XDG_CACHE_HOME/obsconf or ~/.cache/obsconf (Linux),
~/Library/Caches/obsconf (macOS), %LOCALAPPDATA%\\obsconf\\Cache (Windows). Never the
current directory by accident. Everything there can be made again: a cache that cannot
be written (a read-only folder, a full disk) costs a warning, never a run's results.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV = "OBSCONF_CACHE_DIR"


def root() -> Path:
    """The cache folder (see the module docstring)."""
    chosen = os.environ.get(ENV)
    if chosen:
        return Path(chosen)
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "obsconf"
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "obsconf" / "Cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "obsconf"


def choose(path: str | os.PathLike) -> None:
    """`--cache-dir`: this process and the workers it starts use `path`."""
    os.environ[ENV] = os.fspath(Path(path).expanduser().resolve())


def write_or_warn(path: Path, text: str) -> bool:
    """Write a cache file atomically; on failure one warning line on stderr, and False."""
    from .golden import write_atomic

    try:
        write_atomic(path, text)
        return True
    except OSError as exc:
        print(f"obsconf: warning: cannot write the cache file {path}: {exc.strerror or exc} "
              f"(results are unaffected; choose another folder with --cache-dir)", file=sys.stderr)
        return False
