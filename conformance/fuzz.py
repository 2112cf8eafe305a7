"""Live differential testing on generated cases: an IUT against the oracle (or any
other IUT), Hypothesis shrinking a divergence to a small graph, and the pending-case
workflow that freezes it into the corpus.

A divergence is written to `models/generated/pending/<digest>.json` (the spec, the seed,
the torch version, what differed) beside `<digest>.plan` (the oracle's plan);
`obsconf regen --accept` re-derives the golden from the oracle and moves the case into
the frozen `hypothesis` family.
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
    compared: int = 0  # examples both sides prepared and compared
    rejected: int = 0  # examples the reference side (`against`) rejects: not valid cases
    seconds: float = 0.0
    divergence: Divergence | None = None
    pending: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return (self.compared + self.rejected) / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        found = "1 divergence" if self.divergence else "no divergence"
        return (f"{self.compared} compared, {self.rejected} rejected by the reference side, {found}, "
                f"{self.seconds:.1f} s ({self.rate:.1f} examples/s)")


def differential(spec: dict, impl: Implementation, against: Implementation) -> list[str] | None:
    """The differences between `against` (expected) and `impl` on one generated case;
    None when `against` cannot prepare it (the spec is not a valid case for it)."""
    case = graphs.to_case(spec)
    try:
        expected = produce_plan(case, against, collect=False)
    except CaseError:
        return None
    try:
        actual = produce_plan(case, impl, collect=False)
    except CaseError as exc:
        return [f"{exc} where {against.name!r} prepared the case"]
    return diff.compare(expected, actual)


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
) -> FuzzReport:
    """Compare `impl` with `against` on generated cases until `examples` were compared
    or one differs; a divergence comes back shrunk (Hypothesis replays the minimal
    failing example last, so the last one recorded is the shrunk one)."""
    report = FuzzReport()
    start = time.perf_counter()

    def check(spec):
        if (report.compared + report.rejected) % GC_EVERY == GC_EVERY - 1:
            gc.collect()
        differences = differential(spec, impl, against)
        report.seconds = time.perf_counter() - start
        if differences is None:
            report.rejected += 1
            reject()
        report.compared += 1
        if progress is not None:
            progress(report)
        if differences:
            report.divergence = Divergence(spec, differences)
            raise _Diverged()

    test = profile_settings(profile, examples, seed)(given(generate.case_specs(max_nodes=max_nodes))(check))
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
    lines += ["  ],", f'  "outputs": {one(graph["outputs"])}', " }", "}"]
    return "\n".join(lines) + "\n"


def oracle_plan_text(case) -> str | None:
    """The golden text the oracle gives this case, or None when it rejects it."""
    try:
        plan = produce_plan(case, load("torch"))
    except CaseError:
        return None
    return plan.to_text(golden_header(case.id))


def write_pending(divergence: Divergence, found: dict, folder: Path | None = None) -> Path:
    """Write the shrunk divergence as a pending case; returns the JSON file's path."""
    folder = folder or hypothesis_graphs.PENDING_DIR
    spec = {"graph": divergence.spec["graph"], "config": divergence.spec["config"]}
    name = graphs.spec_digest(spec)
    spec["found"] = {**found, "torch": torch.__version__, "differences": divergence.differences}
    path = folder / f"{name}.json"
    write_atomic(path, spec_text(spec))
    golden = oracle_plan_text(graphs.to_case(spec, FAMILY, name=name))
    if golden is not None:
        write_atomic(folder / f"{name}.plan", golden)
    return path


def accept_pending(folder: Path | None = None, frozen: Path | None = None, store: GoldenStore | None = None,
                   say: Callable[[str], None] = print) -> tuple[int, int]:
    """Promote every pending case into the frozen family: the golden is made again by
    the oracle (a pending plan that differs from it is reported, the new one wins) and
    written with the spec; a pending case the oracle rejects stays pending. Returns
    (accepted, failed)."""
    folder = folder or hypothesis_graphs.PENDING_DIR
    frozen = frozen or hypothesis_graphs.FROZEN_DIR
    store = store or GoldenStore()
    accepted = failed = 0
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            _, case = load_case(path)
        except graphs.SpecError as exc:
            say(f"ERROR {exc}")
            failed += 1
            continue
        golden = oracle_plan_text(case)
        case_id = case.id
        if golden is None:
            say(f"ERROR {case_id}: the oracle cannot prepare it; left in {path}")
            failed += 1
            continue
        pending_plan = path.with_suffix(".plan")
        if pending_plan.is_file() and pending_plan.read_text(encoding="utf-8") != golden:
            say(f"NOTE {case_id}: the oracle's plan differs from the pending one (recorded under another torch?); "
                "the new one is written")
        write_atomic(frozen / path.name, path.read_text(encoding="utf-8"))
        store.write(case_id, golden)
        path.unlink()
        if pending_plan.is_file():
            pending_plan.unlink()
        say(f"accepted {case_id}")
        accepted += 1
    return accepted, failed


def freeze_sample(count: int, seed: int, against: Implementation, max_nodes: int = 12, frozen: Path | None = None,
                  say: Callable[[str], None] = print) -> int:
    """Write `count` generated cases that `against` can prepare into the frozen family
    (spec files only: `obsconf regen -k hypothesis/` makes their goldens)."""
    written: dict[str, dict] = {}

    @settings(settings.get_profile("deep"), max_examples=count * 4, verbosity=Verbosity.quiet, derandomize=False)
    @hypothesis_seed(seed)
    @given(generate.case_specs(max_nodes=max_nodes))
    def collect(spec):
        if len(written) >= count:
            return
        case = graphs.to_case(spec)
        try:
            produce_plan(case, against, collect=False)
        except CaseError:
            return
        written.setdefault(graphs.spec_digest(spec), spec)

    collect()
    frozen = frozen or hypothesis_graphs.FROZEN_DIR
    for name, spec in sorted(written.items()):
        record = {**spec, "found": {"why": "sample", "seed": seed, "torch": torch.__version__}}
        write_atomic(frozen / f"{name}.json", spec_text(record))
    say(f"wrote {len(written)} generated cases to {frozen}; make their goldens with `obsconf regen -k {FAMILY}/`")
    return len(written)
