"""Expectations: what an implementation is known to do differently, declared per IUT
(like test262's per-engine status files), so that a run shows only what is new.

A TOML file of `[[expect]]` tables, first match wins:

    [[expect]]
    cases = ["zoo/onednn/*", "torchvision/*/onednn-qat"]   # globs (or one string)
    outcome = "differs"                                     # differs | error | skip
    reason = "our onednn backend keeps ConvTranspose per-tensor"
    differences = ["observer on x -> conv (arg 0): dtype quint8 != qint8"]  # optional, differs only
    error = "NotImplementedError"                           # optional, error only: a substring

A case that differs as declared (and, when `differences` is given, with exactly those
lines, in any order) is expected; one that conforms although it should differ or err
is an XPASS (reported; a failure with `strict`); an expectation that matches no case
of the run is reported as unused.
"""

from __future__ import annotations

import fnmatch
import sys
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .outcome import CONFORM, DIFFER, ERROR, SKIPPED, Outcome

OUTCOMES = ("differs", "error", "skip")
# what each kind of expectation says a run's outcome status should be
_STATUS = {"differs": DIFFER, "error": ERROR, "skip": SKIPPED}

EXPECTED, XPASS, UNEXPECTED = "expected", "xpass", "unexpected"


class ExpectationsError(ValueError):
    """A file that cannot be read; the message names the file and the entry."""


@dataclass
class Expectation:
    index: int  # 1-based position in the file, for messages
    patterns: tuple[str, ...]
    outcome: str
    reason: str
    differences: tuple[str, ...] | None = None
    error: str | None = None
    used: int = 0

    def matches(self, case_id: str) -> bool:
        return any(fnmatch.fnmatchcase(case_id, p) for p in self.patterns)

    def describe(self) -> str:
        return f"expectation #{self.index} ({', '.join(self.patterns)}: {self.outcome}, {self.reason})"


@dataclass
class Verdict:
    """How one outcome stands against the expectations: `ok` when it is what was declared
    (or conforms with nothing declared)."""

    outcome: Outcome
    kind: str  # EXPECTED, XPASS, UNEXPECTED, or CONFORM when nothing was declared and it conforms
    expectation: Expectation | None = None
    why: str = ""
    entries: tuple[str, ...] = ()  # ledger runs: the ids of the divergences that account for it

    @property
    def ok(self) -> bool:
        return self.kind in (EXPECTED, CONFORM)


@dataclass
class Expectations:
    source: str
    entries: list[Expectation] = field(default_factory=list)

    @classmethod
    def load(cls, path: str | Path) -> "Expectations":
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ExpectationsError(f"expectations {path}: cannot read: {exc}") from None
        return cls.parse(data, str(path))

    @classmethod
    def parse(cls, data: dict, source: str = "<expectations>") -> "Expectations":
        unknown = set(data) - {"expect"}
        if unknown:
            raise ExpectationsError(f"expectations {source}: unknown top-level key(s) {sorted(unknown)}; use [[expect]] tables")
        entries = []
        for i, raw in enumerate(data.get("expect", []), start=1):
            where = f"expectations {source}, entry #{i}"
            if not isinstance(raw, dict):
                raise ExpectationsError(f"{where}: not a table")
            extra = set(raw) - {"cases", "outcome", "reason", "differences", "error"}
            if extra:
                raise ExpectationsError(f"{where}: unknown key(s) {sorted(extra)}")
            cases = raw.get("cases")
            patterns = (cases,) if isinstance(cases, str) else tuple(cases or ())
            if not patterns or not all(isinstance(p, str) and p for p in patterns):
                raise ExpectationsError(f"{where}: `cases` must be a glob or a list of globs")
            if raw.get("outcome") not in OUTCOMES:
                raise ExpectationsError(f"{where}: `outcome` must be one of {', '.join(OUTCOMES)}, not {raw.get('outcome')!r}")
            if not isinstance(raw.get("reason"), str) or not raw["reason"].strip():
                raise ExpectationsError(f"{where}: every expectation needs a `reason`")
            differences = raw.get("differences")
            if differences is not None and (raw["outcome"] != "differs" or not isinstance(differences, list)):
                raise ExpectationsError(f"{where}: `differences` is a list, for outcome \"differs\" only")
            error = raw.get("error")
            if error is not None and raw["outcome"] != "error":
                raise ExpectationsError(f"{where}: `error` is for outcome \"error\" only")
            entries.append(Expectation(i, patterns, raw["outcome"], raw["reason"].strip(),
                                       tuple(differences) if differences is not None else None, error))
        return cls(source, entries)

    def find(self, case_id: str) -> Expectation | None:
        return next((e for e in self.entries if e.matches(case_id)), None)

    def skips(self, case_id: str) -> Expectation | None:
        """The expectation that says not to run this case at all."""
        found = self.find(case_id)
        return found if found is not None and found.outcome == "skip" else None

    def judge(self, outcome: Outcome) -> Verdict:
        expectation = self.find(outcome.case_id)
        if expectation is not None:
            expectation.used += 1
        return judge(outcome, expectation)

    def unused(self) -> list[Expectation]:
        return [e for e in self.entries if not e.used]


def judge(outcome: Outcome, expectation: Expectation | None) -> Verdict:
    """Compare one outcome with what was declared for its case."""
    if expectation is None:
        if outcome.status in (CONFORM, SKIPPED):
            return Verdict(outcome, CONFORM)
        return Verdict(outcome, UNEXPECTED, why="no expectation declared")
    wanted = _STATUS[expectation.outcome]
    if outcome.status == wanted:
        if wanted == DIFFER and expectation.differences is not None:
            if sorted(outcome.differences) != sorted(expectation.differences):
                return Verdict(outcome, UNEXPECTED, expectation, why=f"differs otherwise than {expectation.describe()} says")
        if wanted == ERROR and expectation.error and expectation.error not in outcome.message:
            return Verdict(outcome, UNEXPECTED, expectation,
                           why=f"errs otherwise than {expectation.describe()} says ({expectation.error!r} not in the message)")
        return Verdict(outcome, EXPECTED, expectation)
    if outcome.status == CONFORM:
        return Verdict(outcome, XPASS, expectation, why=f"conforms, although {expectation.describe()}")
    if outcome.status == SKIPPED:
        return Verdict(outcome, EXPECTED, expectation)
    return Verdict(outcome, UNEXPECTED, expectation, why=f"{outcome.status}, although {expectation.describe()}")
