"""Harness overhead: time spent around the IUT's own prepare, against the time inside it.

    python -m tests.benchmarks.harness_overhead [--cases 200] [--seed 0] [-k PATTERN] [--impl torch --impl reference]

One process, the cases run one after another as `obsconf run -j 1` runs them
(`runner.run_case`: build the model, call the IUT, canonicalise, load the golden,
compare, release memory). For each implementation it prints the seconds inside the
IUT's `prepare`, the seconds around it (everything else `run_case` did), their ratio
(the overhead, target at most 25 %), and the peak RSS of the process. The sample is a
seeded random choice of cases, the same for every implementation; both are measured in
the same run, so the ratios compare. Figures, not a pass/fail test: the machines are
shared.

Each implementation pays for its own exports and traces (the caches that keep them for
later cases are emptied before it runs), as it would alone in `obsconf run`. Before
either is measured, both run once on one case of each family and path, and of each
preset, outside the sample, so that one-time costs (imports, torch.export's first call)
fall on neither; that warm-up is printed too. The seconds torch.export took (a pt2e case's input is an exported graph:
some 40 ms for a small one, seconds for a torchvision model, against some 15 ms of the
reference's prepare_pt2e) are printed apart, with the overhead less them, and so are the
seconds CPython's garbage collector ran, inside the IUT and around it together.

A sample shares little: its cases seldom meet a recipe twice, while a whole run hands a
recipe's export (and trace) on to its other presets. `--cases 0` measures the whole
selection: some 4 minutes for the reference, 7 for the oracle.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import random
import resource
import time

from conformance import runner
from conformance.cli import select
from conformance.contract import Implementation, load
from conformance.golden import GoldenStore
from models import recipe
from tests.benchmarks.memory import rss_mib


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(cases, impl: Implementation, store: GoldenStore) -> dict:
    inside = 0.0

    def timing(prepare):
        def timed(*args, **kwargs):
            nonlocal inside
            start = time.perf_counter()
            try:
                return prepare(*args, **kwargs)
            finally:
                inside += time.perf_counter() - start
        return timed

    # both paths: a pt2e case calls prepare_pt2e (its export is the case's building, around it)
    wrapped = dataclasses.replace(impl, prepare=timing(impl.prepare),
                                  prepare_pt2e=impl.prepare_pt2e and timing(impl.prepare_pt2e))
    statuses: dict[str, int] = {}
    forget_kept_exports_and_traces()
    start_rss = rss_mib()
    start = time.perf_counter()
    with timed_exports() as exporting, timed_collections() as collecting:
        for case in cases:
            outcome = runner.run_case(case, wrapped, store)
            statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
    total = time.perf_counter() - start
    return {"inside": inside, "around": total - inside, "total": total, "statuses": statuses,
            "exports": exporting[0], "collections": collecting[0], "start_rss": start_rss, "end_rss": rss_mib()}


def forget_kept_exports_and_traces() -> None:
    """Each implementation exports and traces for itself, as it would alone."""
    recipe._EXPORTS.clear()
    runner._TRACED_NAMES.clear()


@contextlib.contextmanager
def timed_exports():
    """Seconds spent in torch.export (a kept export's deep copy is not one), in a one-item list."""
    seconds = [0.0]
    export = recipe._Exports._export

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return export(*args, **kwargs)
        finally:
            seconds[0] += time.perf_counter() - start

    recipe._Exports._export = staticmethod(timed)
    try:
        yield seconds
    finally:
        recipe._Exports._export = staticmethod(export)


@contextlib.contextmanager
def timed_collections():
    """Seconds CPython's garbage collector ran (the runner's own collections and its
    automatic ones), in a one-item list."""
    seconds, started = [0.0], [0.0]

    def callback(phase, info):
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            seconds[0] += time.perf_counter() - started[0]

    gc.callbacks.append(callback)
    try:
        yield seconds
    finally:
        gc.callbacks.remove(callback)


def warm_up(selected, sample, impls, store: GoldenStore) -> tuple[int, float]:
    """Run every implementation once on one case of each family and path, and of each preset,
    outside the sample (the x86 inductor quantizer's first build imports torch._inductor: 0.9 s)."""
    chosen, sampled = {}, {case.id for case in sample}
    for case in selected:
        if case.id not in sampled:
            chosen.setdefault((case.id.split("/")[0], case.path), case)
            chosen.setdefault(case.preset.name, case)
    warm = {case.id: case for case in chosen.values()}.values()
    start = time.perf_counter()
    for impl in impls:
        for case in warm:
            runner.run_case(case, impl, store)
    return len(warm), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=200, help="how many cases to sample (0: all selected)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-k", action="append", help="select cases as obsconf run -k does")
    parser.add_argument("--impl", action="append", help="implementations, in order (default: torch, reference)")
    args = parser.parse_args()
    selected = cases = select(args.k)
    if args.cases and args.cases < len(cases):
        cases = sorted(random.Random(args.seed).sample(cases, args.cases), key=lambda c: c.id)
    store = GoldenStore()
    impls = [load(name) for name in args.impl or ["torch", "reference"]]
    print(f"{len(cases)} cases (seed {args.seed}), one process, start RSS {rss_mib():.0f} MiB", flush=True)
    warmed, seconds = warm_up(selected, cases, impls, store)
    print(f"warm-up (not measured): {warmed} cases outside the sample, each implementation, {seconds:.1f} s", flush=True)
    for impl in impls:
        figures = measure(cases, impl, store)
        inside, around, exports = figures["inside"], figures["around"], figures["exports"]
        counts = ", ".join(f"{n} {s}" for s, n in sorted(figures["statuses"].items()))
        print(f"{impl.name}: {inside:.1f} s inside the IUT, {around:.1f} s around it: overhead {percent(around, inside)}; "
              f"of that torch.export {exports:.1f} s, overhead less exports {percent(around - exports, inside)}; "
              f"garbage collection {figures['collections']:.1f} s, inside and around; "
              f"{figures['total']:.1f} s in all ({counts}); "
              f"RSS {figures['start_rss']:.0f} -> {figures['end_rss']:.0f} MiB, peak so far {peak_rss_mib():.0f} MiB",
              flush=True)


def percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "n/a (no time inside)"


if __name__ == "__main__":
    main()
