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
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import resource
import time

from conformance import runner
from conformance.cli import select
from conformance.contract import Implementation, load
from conformance.golden import GoldenStore
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
    start_rss = rss_mib()
    start = time.perf_counter()
    for case in cases:
        outcome = runner.run_case(case, wrapped, store)
        statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
    total = time.perf_counter() - start
    return {"inside": inside, "around": total - inside, "total": total, "statuses": statuses,
            "start_rss": start_rss, "end_rss": rss_mib()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=200, help="how many cases to sample (0: all selected)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-k", action="append", help="select cases as obsconf run -k does")
    parser.add_argument("--impl", action="append", help="implementations, in order (default: torch, reference)")
    args = parser.parse_args()
    cases = select(args.k)
    if args.cases and args.cases < len(cases):
        cases = sorted(random.Random(args.seed).sample(cases, args.cases), key=lambda c: c.id)
    store = GoldenStore()
    print(f"{len(cases)} cases (seed {args.seed}), one process, start RSS {rss_mib():.0f} MiB", flush=True)
    for name in args.impl or ["torch", "reference"]:
        figures = measure(cases, load(name), store)
        ratio = figures["around"] / figures["inside"] if figures["inside"] else float("inf")
        counts = ", ".join(f"{n} {s}" for s, n in sorted(figures["statuses"].items()))
        print(f"{name}: {figures['inside']:.1f} s inside the IUT, {figures['around']:.1f} s around it: "
              f"overhead {100 * ratio:.0f} %; {figures['total']:.1f} s in all ({counts}); "
              f"RSS {figures['start_rss']:.0f} -> {figures['end_rss']:.0f} MiB, peak so far {peak_rss_mib():.0f} MiB",
              flush=True)


if __name__ == "__main__":
    main()
