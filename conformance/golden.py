"""The golden store: one plan file per case, `golden/<case id>.plan`.

Goldens are written only by `obsconf regen`, from the oracle, atomically (a temporary
file in the same folder, then a rename), so an interrupted regen never leaves half
a file. Reading checks the magic line, the schema, the body checksum (a hand edit
breaks it) and that the file names its own case.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from pathlib import Path

from . import __version__, cases_folder
from .plan import Plan, PlanFormatError, parse_text

SUFFIX = ".plan"
USER_PREFIX = "user/"  # the family of a user's own cases, whose goldens live in their folder


class GoldenError(Exception):
    """A golden that is missing or unreadable; the message names the file."""


def default_root() -> Path:
    """`golden/` beside the installed packages (the repository root for `pip install -e .`)."""
    env = os.environ.get("OBSCONF_GOLDEN_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "golden"


def golden_header(case_id: str) -> dict[str, str]:
    """What every golden records about where it came from (no time, host or path:
    regenerating on any machine gives the same bytes)."""
    import torch

    return {"case": case_id, "suite": __version__, "torch": torch.__version__, "producer": "oracle"}


def write_atomic(path: Path | str, text: str) -> None:
    """Write a file so that no reader ever sees half of it: a temporary file in the same
    folder, then a rename. Used for goldens, reports, pending and frozen cases."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; these are ordinary checked-in files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@functools.cache
def bundled_goldens_torch() -> str | None:
    """The torch version that made the bundled goldens (read once: it takes a walk of golden/)."""
    return GoldenStore().goldens_torch()


class GoldenStore:
    def __init__(self, root: Path | str | None = None):
        self.chosen = root is not None  # a folder the user named (--golden-dir), not the bundled one
        self.root = Path(root) if root is not None else default_root()
        self.user_root = cases_folder.golden_root()  # the goldens of the user's own cases (--cases DIR)

    def _roots(self) -> list[Path]:
        return [self.root] + ([self.user_root] if self.user_root is not None else [])

    def _root_of(self, case_id: str) -> Path:
        return self.user_root if self.user_root is not None and case_id.startswith(USER_PREFIX) else self.root

    def regen_command(self, *patterns: str) -> str:
        """The `obsconf regen` command that writes into this store's folders."""
        folder = f" --golden-dir {self._show(self.root)}" if self.chosen else ""
        if self.user_root is not None:
            folder += f" --cases {self._show(self.user_root.parent)}"
        return "obsconf" + folder + " regen" + "".join(f" -k {p}" for p in patterns)

    def require_folder(self) -> "GoldenStore":
        """This store; GoldenError (a setup error: every case would fail the same way) when
        its folder is not there."""
        if not self.root.is_dir():
            what = "is not a folder" if self.root.exists() else f"does not exist (make its goldens with `{self.regen_command()}`)"
            raise GoldenError(f"golden folder {self._show(self.root)} {what}")
        return self

    @contextlib.contextmanager
    def writing(self):
        """Hold the folders for writing: a second `obsconf regen` on one of them at the same
        time is refused (an advisory lock on the folder, freed when this process ends, however)."""
        import fcntl

        with contextlib.ExitStack() as held:
            for root in self._roots():
                try:
                    root.mkdir(parents=True, exist_ok=True)
                    fd = os.open(root, os.O_RDONLY)
                except OSError as exc:
                    raise GoldenError(f"cannot write into golden folder {self._show(root)}: {exc.strerror or exc}") from None
                held.callback(os.close, fd)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise GoldenError(f"another `obsconf regen` is writing {self._show(root)}: "
                                      f"wait for it to finish") from None
            yield

    def goldens_torch(self) -> str | None:
        """The torch version that made these goldens, as their headers record it (they all
        come from one release: regen writes every case); None for an empty store."""
        for case_id in self.stored_ids()[:1]:
            for line in (self.read_text(case_id) or "").splitlines():
                if line.startswith("torch = "):
                    return line.split("=", 1)[1].strip()
        return None

    def path(self, case_id: str) -> Path:
        return self._root_of(case_id) / f"{case_id}{SUFFIX}"

    def exists(self, case_id: str) -> bool:
        return self.path(case_id).is_file()

    def read_text(self, case_id: str) -> str | None:
        path = self.path(case_id)
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise GoldenError(f"golden {self._show(path)}: unreadable: {exc}") from None

    def load(self, case_id: str) -> Plan:
        return self.load_with_header(case_id)[1]

    def load_with_header(self, case_id: str, text: str | None = None) -> tuple[dict[str, str], Plan]:
        """The golden's header (case, suite, torch, producer) and its plan; `text`, when
        the caller has read the file already, is parsed instead of reading it again."""
        path = self.path(case_id)
        text = self.read_text(case_id) if text is None else text
        if text is None:
            raise GoldenError(f"no golden for case {case_id} ({self._show(path)}); create it with `{self.regen_command(case_id)}`")
        try:
            header, plan = parse_text(text, source=f"golden {self._show(path)}")
        except PlanFormatError as exc:
            raise GoldenError(str(exc)) from None
        if header.get("case") != case_id:
            raise GoldenError(f"golden {self._show(path)} records case {header.get('case')!r}, not {case_id!r}")
        return header, plan

    def load_or_error(self, case_id: str) -> tuple[dict[str, str], Plan | None, GoldenError | None]:
        """`load_with_header`, its GoldenError returned rather than raised: a run reports
        a bad golden only after the IUT ran (a case it cannot build is skipped first)."""
        try:
            header, plan = self.load_with_header(case_id)
        except GoldenError as exc:
            return {}, None, exc
        return header, plan, None

    def write(self, case_id: str, text: str) -> None:
        write_atomic(self.path(case_id), text)

    def remove(self, case_id: str) -> None:
        self.path(case_id).unlink()

    def stored_ids(self) -> list[str]:
        found = []
        for root in self._roots():
            if root.is_dir():
                ids = (p.relative_to(root).as_posix()[: -len(SUFFIX)] for p in root.rglob(f"*{SUFFIX}") if p.is_file())
                found += [i for i in ids if self._root_of(i) == root]
        return sorted(found)

    def orphans(self, case_ids: set[str]) -> list[str]:
        """Goldens that belong to no case of the corpus."""
        return [i for i in self.stored_ids() if i not in case_ids]

    def _show(self, path: Path) -> str:
        try:
            return path.relative_to(Path.cwd()).as_posix()
        except ValueError:
            return str(path)
