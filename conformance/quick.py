"""The quick tier (`obsconf run --quick`): a few cases that kill every mutant of prepare.py
that the whole corpus kills, and still touch every family, backend and reference rule.

Chosen by `obsconf strength` from its results (`choose`), and kept as a checked-in file
(conformance/quick_tier.txt) that only a full strength run rewrites: a greedy set cover
of the killed mutants over the cases that killed them (the cheapest first at equal
gain), then, for each family, backend and rule the cover leaves out, its cheapest case.
The strength run records one killer per mutant (the first case, cheapest first, that
told the mutant apart), so the cover is over those kills.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

FILE = Path(__file__).with_name("quick_tier.txt")


class QuickTierError(Exception):
    """The quick-tier file is missing or unreadable: one line naming it."""


def choose(killers: dict[str, str], seconds: dict[str, float], rules_of: Callable[[str], set[str]],
           all_rules: Iterable[str]) -> tuple[list[tuple[str, list[str]]], list[str]]:
    """((case id, why it is in) for the tier, in id order; the rules no case uses).
    `killers`: killed mutant id -> the case that killed it; `seconds`: what each usable
    case costs (the ids to choose from); `rules_of(case id)`: the reference rules its plan uses."""
    from .reports import backend_of, family_of

    cost = lambda case_id: (seconds.get(case_id, float("inf")), case_id)  # noqa: E731
    kills: dict[str, set[str]] = {}
    for mutant, case_id in killers.items():
        kills.setdefault(case_id, set()).add(mutant)
    why: dict[str, list[str]] = {}
    uncovered = set(killers)
    while uncovered:
        best = min(kills, key=lambda c: (-len(kills[c] & uncovered), cost(c)))
        why[best] = [f"kills {' '.join(sorted(kills[best] & uncovered))}"]
        uncovered -= kills.pop(best)
    by_cost = sorted(seconds, key=cost)
    for label, key in (("family", family_of), ("backend", backend_of)):
        for value in sorted({key(c) for c in by_cost}):
            if not any(key(c) == value for c in why):
                why[next(c for c in by_cost if key(c) == value)] = [f"{label} {value}"]
    seen_rules = set().union(*(rules_of(c) for c in why)) if why else set()
    unused = []
    for rule in sorted(set(all_rules) - seen_rules):
        if rule in seen_rules:
            continue
        found = next((c for c in by_cost if c not in why and rule in rules_of(c)), None)
        if found is None:
            unused.append(rule)
        else:
            why[found] = [f"rule {rule}"]
            seen_rules |= rules_of(found)
    return sorted(why.items()), unused


def text(chosen: list[tuple[str, list[str]]], unused: list[str], digest: str, torch_version: str, killed: int,
         seconds: float) -> str:
    lines = [
        "# The quick tier: `obsconf run --quick` runs these cases. Together they kill every mutant of",
        "# prepare.py that the whole corpus kills, and cover every family, backend and reference rule.",
        "# Written by `obsconf strength` (a full run) from its results: do not edit.",
        f"# prepare.py sha256 {digest} (torch {torch_version}); {killed} killed mutants; "
        f"{len(chosen)} cases, {seconds:.0f} s of the oracle's time under coverage",
        f"# reference rules no case of the corpus uses: {' '.join(unused) or 'none'}",
    ]
    lines += [f"{case_id}\t{'; '.join(reasons)}" for case_id, reasons in chosen]
    return "\n".join(lines) + "\n"


def read(file: Path | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """(header facts, case id -> why) from the file; QuickTierError when it cannot be read."""
    file = file or FILE
    try:
        lines = file.read_text().splitlines()
    except OSError as exc:
        raise QuickTierError(f"{file}: no quick tier ({exc.strerror}); a full `obsconf strength` writes it") from None
    header, cases = {}, {}
    for number, line in enumerate(lines, 1):
        if line.startswith("# prepare.py sha256 "):
            words = line.split()
            header.update(digest=words[3], torch=words[5].rstrip(");"), killed=words[6])
        elif line.startswith("# reference rules no case of the corpus uses: "):
            named = line.split(": ", 1)[1].split()
            header["unused rules"] = [] if named == ["none"] else named
        elif line.startswith("#") or not line.strip():
            continue
        elif "\t" not in line:
            raise QuickTierError(f"{file}:{number}: not `case id<TAB>why`: {line[:60]!r}")
        else:
            case_id, reasons = line.split("\t", 1)
            cases[case_id] = reasons
    if "digest" not in header or not cases:
        raise QuickTierError(f"{file}: no header line or no case; a full `obsconf strength` writes it")
    return header, cases


def killed_by(reasons: dict[str, str]) -> dict[str, str]:
    """mutant id -> the quick case recorded to kill it."""
    found = {}
    for case_id, why in reasons.items():
        for part in why.split("; "):
            if part.startswith("kills "):
                found.update((m, case_id) for m in part.split()[1:])
    return found


def reference_rules(case) -> set[str]:
    """The rules the reference's plan of `case` uses, standalone modules included."""
    import warnings

    import reference
    from torch.fx import GraphModule

    from .contract import load
    from .runner import release_torch_caches, run_iut

    from models import SkipCase

    from .outcome import CaseError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            gm = run_iut(case, load("reference"))
        except (CaseError, SkipCase):
            return set()
    from .explain import rule_key

    rules = set()
    for module in (m for m in gm.modules() if isinstance(m, GraphModule)):
        for recorded in module.meta.get(reference.RULES_KEY, {}).values():
            rule, shared = rule_key(recorded)  # 'input (shared)': the input rule, then sharing
            rules |= {rule, "shared"} if shared else {rule}
    del gm
    release_torch_caches()
    return rules
