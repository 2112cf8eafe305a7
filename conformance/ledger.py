"""The divergence ledger (golden/ledger.toml): how other torch releases' prepare differs
from the goldens, which the default release's oracle produced.

One `[[divergence]]` table per behaviour change:

    [[divergence]]
    id = "no-is-dynamic"                       # short, unique; the behaviour table names it
    torch = "<2.1"                             # the releases showing it (a PEP 440 specifier set)
    pt2e = ["torch.ao", "torchao<0.17"]        # optional: only under these pt2e sources (below)
    cases = ["*"]                              # globs of case ids
    outcome = "differs"                        # differs | error | skip
    differences = ["* is_dynamic False != <absent>*"]   # lines as the differ prints them; * is a wildcard
    error = "only works for qint8"             # outcome error: a substring of the case's error
    change = "pytorch/pytorch#NNNN (2.1): ..."  # the upstream change that explains it

A run of some release's oracle is judged case by case against the entries whose `torch`
admits that release and whose `cases` match:

- a case that differs conforms to the ledger when every difference line matches a line of
  one of those entries (a line naming several attributes, `where: a; b`, is judged one
  attribute at a time: `where: a`, `where: b`); a line no entry matches is an unlisted
  difference and fails;
- an entry that names a case exactly (no wildcard) and lists exact lines must still see
  each of them: a line that went missing while the case still differs means the
  divergence changed, and fails; the case conforming now is reported (XPASS);
- a case that errs must match an `error` entry's substring, else it fails;
- an entry that matches nothing in a whole run no longer occurs: it is reported as
  unused, so the ledger stays true.

The pt2e family runs on one of two implementations of prepare_pt2e (models/pt2e_source.py):
torch's own `torch.ao` (torch 2.1 ... 2.10) or torchao's fork, whose releases pair with
torch releases (the tox matrix's `torch2.10-torchao0.16` ...). A difference that the
implementation makes, not torch's export, says which with `pt2e`: "torch.ao", or
"torchao" with an optional release range ("torchao<0.17"). An entry with `pt2e` applies
only to a run whose pt2e cases ran on one of the sources it names.
"""

from __future__ import annotations

import fnmatch
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from .expectations import CONFORM as CONFORMS, EXPECTED, UNEXPECTED, XPASS, Verdict
from .outcome import CONFORM, ERROR, SKIPPED, Outcome

DEFAULT_LEDGER = Path(__file__).resolve().parent.parent / "golden" / "ledger.toml"
OUTCOMES = ("differs", "error", "skip")
_KEYS = {"id", "torch", "pt2e", "cases", "outcome", "differences", "error", "change"}
PT2E_SOURCES = ("torch.ao", "torchao")


class LedgerError(ValueError):
    """A ledger that cannot be read; the message names the file and the entry."""


def release(version: str) -> Version:
    """The release a torch version string names, without its local build tag: 2.0.1+cu117 -> 2.0.1."""
    return Version(Version(version).base_version)


def pt2e_release(text: str | None) -> tuple[str, Version | None] | None:
    """What a report's `pt2e` field names: `torchao 0.16.0` -> ("torchao", 0.16.0),
    `torch.ao (torch 2.10.0)` -> ("torch.ao", None); None where the run had no pt2e case."""
    if not text:
        return None
    name, _, rest = text.partition(" ")
    if name == "torchao":
        return name, release(rest)
    return name, None


def _line_pattern(line: str) -> re.Pattern:
    return re.compile(".*".join(re.escape(part) for part in line.split("*")) + r"\Z", re.DOTALL)


@dataclass
class Divergence:
    index: int  # 1-based position in the file, for messages
    id: str
    torch: SpecifierSet
    patterns: tuple[str, ...]
    outcome: str
    change: str
    differences: tuple[str, ...] = ()
    error: str | None = None
    pt2e: tuple[tuple[str, SpecifierSet], ...] = ()  # (source, its releases); () for any source
    used: int = 0
    _compiled: list = field(default_factory=list, repr=False)
    _cases: re.Pattern | None = field(default=None, repr=False)

    def __post_init__(self):
        self._compiled = [_line_pattern(d) for d in self.differences]
        self._cases = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in self.patterns))

    @property
    def reason(self) -> str:  # what Expectation calls it: reports read it
        return self.change

    def admits(self, version: Version, pt2e: tuple[str, Version | None] | None = None) -> bool:
        """Whether a run of torch `version`, its pt2e cases on `pt2e` (pt2e_release), shows it."""
        if not self.torch.contains(version, prereleases=True):
            return False
        if not self.pt2e:
            return True
        return pt2e is not None and any(
            name == pt2e[0] and (pt2e[1] is None or spec.contains(pt2e[1], prereleases=True)) for name, spec in self.pt2e)

    def matches(self, case_id: str) -> bool:
        return self._cases.match(case_id) is not None

    def names_exactly(self, case_id: str) -> bool:
        return case_id in self.patterns and not any("*" in d for d in self.differences)

    def covers(self, line: str) -> bool:
        return any(p.match(line) for p in self._compiled)

    def describe(self) -> str:
        on = f"; pt2e {' or '.join(name + str(spec) for name, spec in self.pt2e)}" if self.pt2e else ""
        return f"divergence {self.id!r} (torch {self.torch}{on}; {', '.join(self.patterns)}: {self.outcome})"


@dataclass
class Ledger:
    source: str
    version: Version
    entries: list[Divergence]  # those admitting `version` (and the run's pt2e source)
    everything: list[Divergence]  # the whole file, whatever release

    @classmethod
    def load(cls, path: str | Path, torch_version: str, pt2e: str | None = None) -> "Ledger":
        """The entries for a run of `torch_version` whose pt2e cases ran on `pt2e` (a
        report's `pt2e` field: `torchao 0.16.0`, `torch.ao (torch 2.10.0)`; None: none ran)."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise LedgerError(f"ledger {path}: cannot read: {exc}") from None
        return cls.parse(data, torch_version, str(path), pt2e)

    @classmethod
    def parse(cls, data: dict, torch_version: str, source: str = "<ledger>", pt2e: str | None = None) -> "Ledger":
        unknown = set(data) - {"divergence"}
        if unknown:
            raise LedgerError(f"ledger {source}: unknown top-level key(s) {sorted(unknown)}; use [[divergence]] tables")
        entries, seen = [], set()
        for i, raw in enumerate(data.get("divergence", []), start=1):
            entries.append(_parse_entry(raw, f"ledger {source}, entry #{i}", i, seen))
        version = release(torch_version)
        on = pt2e_release(pt2e)
        return cls(source, version, [e for e in entries if e.admits(version, on)], entries)

    def find(self, case_id: str) -> list[Divergence]:
        return [e for e in self.entries if e.matches(case_id)]

    def skips(self, case_id: str) -> Divergence | None:
        """The entry that says this release cannot run the case at all."""
        return next((e for e in self.find(case_id) if e.outcome == "skip"), None)

    def judge(self, outcome: Outcome) -> Verdict:
        found = self.find(outcome.case_id)
        if outcome.status == SKIPPED:
            return Verdict(outcome, CONFORMS)
        if outcome.status == ERROR:
            hit = next((e for e in found if e.outcome == "error" and (not e.error or e.error in outcome.message)), None)
            if hit is None:
                return Verdict(outcome, UNEXPECTED, why="an error no ledger entry lists for this release")
            hit.used += 1
            return _verdict(outcome, EXPECTED, [hit])
        listing = [e for e in found if e.outcome == "differs"]
        exact = [e for e in listing if e.names_exactly(outcome.case_id)]
        if outcome.status == CONFORM:
            if exact:
                for e in exact:
                    e.used += 1
                return _verdict(outcome, XPASS, exact, why=f"conforms, although {exact[0].describe()} says it differs")
            return Verdict(outcome, CONFORMS)
        hits: list[Divergence] = []
        for line in outcome.differences:
            for part in facts(line):
                entry = next((e for e in listing if e.covers(part)), None)
                if entry is None:
                    shown = line if part == line else f"{part} (in: {line})"
                    return _verdict(outcome, UNEXPECTED, hits, why=f"unlisted difference for torch {self.version}: {shown}")
                if entry not in hits:
                    hits.append(entry)
        for e in exact:
            missing = [d for d in e.differences if d not in outcome.differences]
            if missing:
                return _verdict(outcome, UNEXPECTED, hits,
                                why=f"the divergence changed: {e.describe()} lists {missing[0]!r}, which no longer occurs")
        for e in hits:
            e.used += 1
        return _verdict(outcome, EXPECTED, hits)

    def unused(self, case_ids=None) -> list[Divergence]:
        """The admitted entries no case used; given the ids a run had, only those that
        concern its families (`concerning`)."""
        return [e for e in (self.entries if case_ids is None else self.concerning(case_ids)) if not e.used]

    def concerning(self, case_ids) -> list[Divergence]:
        """The admitted entries that concern a family these cases belong to: a run of the
        pt2e family alone (a torchao pairing's) is not asked for the FX entries of its torch
        release. An entry naming a case the corpus lost still concerns that case's family,
        and a glob whose family is a wildcard (`*executorch*`) concerns the families it matches."""
        case_ids = list(case_ids)
        families = {c.split("/", 1)[0] for c in case_ids}

        def concerns(pattern: str) -> bool:
            head = pattern.split("/", 1)[0]
            if any(ch in head for ch in "*?["):
                return any(fnmatch.fnmatchcase(c, pattern) for c in case_ids)
            return head in families

        return [e for e in self.entries if any(concerns(p) for p in e.patterns)]


def facts(line: str) -> list[str]:
    """The facts of one difference line, each judged on its own: a line listing several
    attributes of one observer (`where: a; b; c`) is `where: a`, `where: b`, `where: c`, so
    that one ledger entry can account for one attribute and another entry for the next."""
    where, sep, detail = line.rpartition(": ")
    if not sep or "; " not in detail:
        return [line]
    return [f"{where}: {part}" for part in detail.split("; ")]


def _verdict(outcome: Outcome, kind: str, entries: list[Divergence], why: str = "") -> Verdict:
    return Verdict(outcome, kind, entries[0] if entries else None, why=why, entries=tuple(e.id for e in entries))


def _parse_entry(raw, where: str, index: int, seen: set) -> Divergence:
    if not isinstance(raw, dict):
        raise LedgerError(f"{where}: not a table")
    extra = set(raw) - _KEYS
    if extra:
        raise LedgerError(f"{where}: unknown key(s) {sorted(extra)}")
    ident = raw.get("id")
    if not isinstance(ident, str) or not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", ident or ""):
        raise LedgerError(f"{where}: `id` must be a short lowercase name (letters, digits, '-', '.')")
    if ident in seen:
        raise LedgerError(f"{where}: id {ident!r} is used twice")
    seen.add(ident)
    where = f"{where} ({ident})"
    try:
        spec = SpecifierSet(raw.get("torch", ""))
    except (InvalidSpecifier, TypeError):
        raise LedgerError(f"{where}: `torch` must be a version range such as \">=2.0,<2.1\", not {raw.get('torch')!r}") from None
    if not str(spec):
        raise LedgerError(f"{where}: `torch` must name the releases showing the divergence")
    cases = raw.get("cases")
    patterns = (cases,) if isinstance(cases, str) else tuple(cases or ())
    if not patterns or not all(isinstance(p, str) and p for p in patterns):
        raise LedgerError(f"{where}: `cases` must be a glob or a list of globs")
    outcome = raw.get("outcome")
    if outcome not in OUTCOMES:
        raise LedgerError(f"{where}: `outcome` must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    change = raw.get("change")
    if not isinstance(change, str) or not change.strip():
        raise LedgerError(f"{where}: every divergence needs the upstream `change` that explains it")
    differences = raw.get("differences", [])
    if outcome == "differs":
        if not isinstance(differences, list) or not differences or not all(isinstance(d, str) and d for d in differences):
            raise LedgerError(f"{where}: outcome \"differs\" needs `differences`, a list of lines")
    elif "differences" in raw:
        raise LedgerError(f"{where}: `differences` is for outcome \"differs\" only")
    error = raw.get("error")
    if error is not None and (outcome != "error" or not isinstance(error, str)):
        raise LedgerError(f"{where}: `error` (a substring) is for outcome \"error\" only")
    return Divergence(index, ident, spec, patterns, outcome, change.strip(), tuple(differences), error,
                      _pt2e_sources(raw.get("pt2e"), where))


def _pt2e_sources(value, where: str) -> tuple[tuple[str, SpecifierSet], ...]:
    """`pt2e = "torchao<0.17"` or a list of such: (source, its releases) pairs."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    bad = LedgerError(f"{where}: `pt2e` must name pt2e sources, \"torch.ao\" or \"torchao\" with an optional "
                      f"release range such as \"torchao<0.17\", not {value!r}")
    if not isinstance(items, list) or not items:
        raise bad
    sources = []
    for item in items:
        if not isinstance(item, str):
            raise bad
        name = next((n for n in PT2E_SOURCES if item.startswith(n)), None)  # neither is a prefix of the other
        if name is None:
            raise bad
        try:
            spec = SpecifierSet(item[len(name):].strip())
        except InvalidSpecifier:
            raise bad from None
        if name == "torch.ao" and str(spec):
            raise bad  # torch.ao's release is torch's: the `torch` range says it
        sources.append((name, spec))
    return tuple(sources)
