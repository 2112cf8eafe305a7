"""Live differential testing on generated cases: an IUT against the oracle (or any
other IUT), Hypothesis shrinking a divergence to a small graph, and the pending-case
workflow that freezes it into the corpus.

Refusals are outcomes here as in the corpus: both sides refusing alike (diff.compare's
rule) agree; one refusing alone, or with another exception, is a divergence that
Hypothesis shrinks like any other.

A divergence is written to `models/generated/pending/<digest>.json` (the spec, the seed,
the torch version, what differed; `"rejects": true` when the oracle refuses it) beside
`<digest>.plan` (the oracle's plan or refusal); `obsconf regen --accept` re-derives the
golden from the oracle and moves the case into the frozen `hypothesis` family, a
negative case where the oracle refuses it.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from hypothesis import Verbosity, given, reject, settings
from hypothesis import seed as hypothesis_seed

from models import graphs
from models import hypothesis_graphs
from models.hypothesis_graphs import FAMILY, load_case

from . import diff, generate  # noqa: F401  (generate registers the profiles)
from .contract import Implementation, load
from .golden import GoldenStore, golden_header, write_atomic
from .runner import CaseError, produce_plan

GC_EVERY = 100  # examples between full garbage collections (each costs 0.1 s or more)


class _Diverged(Exception):
    pass


@dataclass
class Divergence:
    spec: dict
    differences: list[str]


@dataclass
class FuzzReport:
    compared: int = 0  # examples compared: both sides prepared or refused them
    refused: int = 0  # of those, examples the expected side (`against`) refused
    unusable: int = 0  # examples `against` could not run at all (cannot build, cannot canonicalise)
    seconds: float = 0.0
    divergence: Divergence | None = None
    pending: Path | None = None
    notes: list[str] = field(default_factory=list)
    against: str = "torch"  # the expected side's name

    @property
    def rate(self) -> float:
        return (self.compared + self.unusable) / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        found = "1 divergence" if self.divergence else "no divergence"
        return (f"{self.compared} compared ({self.refused} of them refused by {self.against}), "
                f"{self.unusable} unusable, {found}, {self.seconds:.1f} s ({self.rate:.1f} examples/s)")


def _differential(spec: dict, impl: Implementation, against: Implementation) -> tuple[list[str] | None, bool]:
    """(differences, whether `against` refused the case); differences None when `against`
    cannot run the case at all."""
    case = graphs.to_case(spec)
    try:
        expected = produce_plan(case, against, collect=False, any_refusal=True)
    except CaseError:
        return None, False
    refused = expected.rejection is not None
    try:
        actual = produce_plan(case, impl, collect=False, any_refusal=True)
    except CaseError as exc:
        return [f"{exc} where {against.name!r} {'refused' if refused else 'prepared'} the case"], refused
    return diff.compare(expected, actual, rejections=impl.rejections), refused


def differential(spec: dict, impl: Implementation, against: Implementation) -> list[str] | None:
    """The differences between `against` (expected) and `impl` on one generated case,
    refusals judged as in the corpus (the IUT's own `rejections` match); None when
    `against` cannot run it at all (the spec is not a valid case for it)."""
    return _differential(spec, impl, against)[0]


def profile_settings(profile: str, examples: int | None, seed: int | None) -> settings:
    if profile not in generate.PROFILES:
        raise ValueError(f"unknown Hypothesis profile {profile!r} (known: {', '.join(generate.PROFILES)})")
    chosen = settings(settings.get_profile(profile), verbosity=Verbosity.quiet, report_multiple_bugs=False)
    if examples is not None:
        chosen = settings(chosen, max_examples=examples)
    if seed is not None:
        chosen = settings(chosen, derandomize=False)
    return chosen


def fuzz(
    impl: Implementation,
    against: Implementation,
    examples: int | None = None,
    seed: int | None = None,
    profile: str = "ci",
    max_nodes: int = 12,
    progress: Callable[[FuzzReport], None] | None = None,
    path: str = "fx",
) -> FuzzReport:
    """Compare `impl` with `against` on generated cases until `examples` were compared
    or one differs; a divergence comes back shrunk (Hypothesis replays the minimal
    failing example last, so the last one recorded is the shrunk one)."""
    report = FuzzReport(against=against.name)
    start = time.perf_counter()

    def check(spec):
        if (report.compared + report.unusable) % GC_EVERY == GC_EVERY - 1:
            gc.collect()
        differences, refused = _differential(spec, impl, against)
        report.seconds = time.perf_counter() - start
        if differences is None:
            report.unusable += 1
            reject()
        report.compared += 1
        report.refused += refused
        if progress is not None:
            progress(report)
        if differences:
            report.divergence = Divergence(spec, differences)
            raise _Diverged()

    test = profile_settings(profile, examples, seed)(given(generate.specs_for(path, max_nodes))(check))
    if seed is not None:
        test = hypothesis_seed(seed)(test)
    try:
        test()
    except _Diverged:
        pass
    report.seconds = time.perf_counter() - start
    gc.collect()
    return report


# -- pending cases -------------------------------------------------------------------------------


def spec_text(spec: dict) -> str:
    """JSON, one graph node a line, keys sorted: reads well in review and diffs."""
    def one(value):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))

    graph = spec["graph"]
    lines = ["{", f' "config": {one(spec["config"])},']
    if "found" in spec:
        lines.append(f' "found": {one(spec["found"])},')
    lines += [' "graph": {', f'  "inputs": {one(graph["inputs"])},', '  "nodes": [']
    lines += [f"   {one(node)}{',' if i < len(graph['nodes']) - 1 else ''}" for i, node in enumerate(graph["nodes"])]
    lines += ["  ],", f'  "outputs": {one(graph["outputs"])}', " }," if spec.get("rejects") else " }"]
    lines += [' "rejects": true', "}"] if spec.get("rejects") else ["}"]
    return "\n".join(lines) + "\n"


def oracle_golden(case) -> tuple[str, bool] | None:
    """(the golden text the oracle gives this case, whether that is a refusal), or None
    when the oracle cannot run it at all."""
    try:
        plan = produce_plan(case, load("torch"), any_refusal=True)
    except CaseError:
        return None
    return plan.to_text(golden_header(case.id)), plan.rejection is not None


def write_pending(divergence: Divergence, found: dict, folder: Path | None = None) -> Path:
    """Write the shrunk divergence as a pending case (a negative one where the oracle
    refuses it); returns the JSON file's path."""
    folder = folder or hypothesis_graphs.PENDING_DIR
    spec = {"graph": divergence.spec["graph"], "config": divergence.spec["config"]}
    name = graphs.spec_digest(spec)
    spec["found"] = {**found, "torch": torch.__version__, "differences": divergence.differences}
    made = oracle_golden(graphs.to_case(spec, FAMILY, name=name))  # a pt2e spec's case is pt2e/hypothesis/...
    if made is not None and made[1]:
        spec["rejects"] = True
    path = folder / f"{name}.json"
    write_atomic(path, spec_text(spec))
    if made is not None:
        write_atomic(folder / f"{name}.plan", made[0])
    return path


def accept_pending(folder: Path | None = None, frozen: Path | None = None, store: GoldenStore | None = None,
                   say: Callable[[str], None] = print) -> tuple[int, int]:
    """Promote every pending case into the frozen family: the golden is made again by
    the oracle (a pending plan that differs from it is reported, the new one wins) and
    written with the spec, marked negative exactly when the oracle refuses it; a pending
    case the oracle cannot run at all stays pending. Returns (accepted, failed)."""
    folder = folder or hypothesis_graphs.PENDING_DIR
    frozen = frozen or hypothesis_graphs.FROZEN_DIR
    store = store or GoldenStore()
    accepted = failed = 0
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            spec, case = load_case(path)
        except graphs.SpecError as exc:
            say(f"ERROR {exc}")
            failed += 1
            continue
        made = oracle_golden(case)
        case_id = case.id
        if made is None:
            say(f"ERROR {case_id}: the oracle cannot run it; left in {path}")
            failed += 1
            continue
        golden, refuses = made
        pending_plan = path.with_suffix(".plan")
        if pending_plan.is_file() and pending_plan.read_text(encoding="utf-8") != golden:
            say(f"NOTE {case_id}: the oracle's plan differs from the pending one (recorded under another torch?); "
                "the new one is written")
        if refuses != bool(spec.get("rejects")):
            say(f"NOTE {case_id}: the oracle {'refuses' if refuses else 'accepts'} it now; frozen as a "
                f"{'negative' if refuses else 'positive'} case")
        spec["rejects"] = refuses
        write_atomic(hypothesis_graphs.frozen_dir_for(spec, frozen) / path.name, spec_text(spec))
        store.write(case_id, golden)
        path.unlink()
        if pending_plan.is_file():
            pending_plan.unlink()
        say(f"accepted {case_id}")
        accepted += 1
    return accepted, failed


# Examples drawn per negative case wanted: the oracle refuses about 1 generated case in 80
# of prepare_fx's path, about 1 in 6 of prepare_pt2e's (annotations that name what nobody annotated).
DRAWS_PER_NEGATIVE = {"fx": 200, "pt2e": 12}


def freeze_sample(count: int, seed: int, against: Implementation, max_nodes: int = 12, frozen: Path | None = None,
                  say: Callable[[str], None] = print, negatives: int = 0, path: str = "fx") -> int:
    """Write `count` generated cases that `against` prepares, and up to `negatives` it
    refuses (negative cases, `"rejects": true`), into the frozen family (spec files only:
    `obsconf regen -k hypothesis/` makes their goldens and checks that the oracle refuses
    exactly the negative ones). Cases of prepare_pt2e's path (`path="pt2e"`) go into the
    frozen pt2e folder, as the pt2e family's `pt2e/hypothesis/...`."""
    frozen = hypothesis_graphs.frozen_dir_for({"config": {"path": path}}, frozen)
    written: dict[str, dict] = {}
    refused: dict[tuple[str, str], dict[str, dict]] = {}  # by refusal: one refusal is far likelier than others

    draws = max(count * 4, negatives * DRAWS_PER_NEGATIVE[path])

    @settings(settings.get_profile("deep"), max_examples=draws, verbosity=Verbosity.quiet, derandomize=False)
    @hypothesis_seed(seed)
    @given(generate.specs_for(path, max_nodes))
    def collect(spec):
        name = graphs.spec_digest(spec)
        if (frozen / f"{name}.json").exists():  # frozen already: keep how it was found
            return
        try:
            plan = produce_plan(graphs.to_case(spec), against, collect=False, any_refusal=True)
        except CaseError:
            return
        if plan.rejection is None:
            if len(written) < count:
                written.setdefault(name, spec)
            return
        alike = refused.setdefault(plan.rejection, {})
        if len(alike) < negatives:
            alike.setdefault(name, {**spec, "rejects": True})

    collect()
    negative = _spread(refused, negatives)
    for name, spec in sorted({**written, **negative}.items()):
        record = {**spec, "found": {"why": "sample", "seed": seed, "torch": torch.__version__}}
        write_atomic(frozen / f"{name}.json", spec_text(record))
    told = f" ({len(negative)} of them negative, {len(refused)} refusals: {against.name} refuses them)" if negatives else ""
    family = "pt2e/hypothesis" if path == graphs.PT2E else FAMILY
    say(f"wrote {len(written) + len(negative)} generated cases to {frozen}{told}; make their goldens with "
        f"`obsconf regen -k {family}/`")
    return len(written) + len(negative)


def _spread(refused: dict[tuple[str, str], dict[str, dict]], wanted: int) -> dict[str, dict]:
    """Up to `wanted` of the refused specs, taken in turn from each refusal (exception and
    message), so that a rare refusal is frozen beside the commonest."""
    queues = [sorted(refused[key].items()) for key in sorted(refused)]
    chosen: dict[str, dict] = {}
    while len(chosen) < wanted and any(queues):
        for queue in queues:
            if queue and len(chosen) < wanted:
                name, spec = queue.pop(0)
                chosen[name] = spec
    return chosen
