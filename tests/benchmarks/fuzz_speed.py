"""Differential examples per second on generated graphs of at most 20 nodes (one process,
so one core): `python -m tests.benchmarks.fuzz_speed [--examples N] [--seed S] [--impl reference]`.

Prints the rate of the whole loop as `obsconf fuzz` runs it (draw a case, prepare it with
the oracle and the IUT, canonicalise both, compare), and where the time goes: drawing,
the oracle's side, the IUT's side. Goal: at least 10 examples per second per core.
"""

from __future__ import annotations

import argparse
import gc
import time
import warnings

from hypothesis import given, settings
from hypothesis import seed as hypothesis_seed

from conformance import diff, generate
from conformance.contract import load
from conformance.runner import CaseError, produce_plan
from models import graphs


def _nodes(graph: dict) -> int:
    return sum(1 + (_nodes(n["params"]["graph"]) if n["op"] == "standalone" else 0) for n in graph["nodes"])


def draw_specs(count: int, seed: int, max_nodes: int) -> tuple[list[dict], float]:
    specs: list[dict] = []

    @settings(settings.get_profile("deep"), max_examples=count, derandomize=False)
    @hypothesis_seed(seed)
    @given(generate.case_specs(max_nodes=max_nodes))
    def collect(spec):
        specs.append(spec)

    start = time.perf_counter()
    collect()
    return specs, time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-nodes", type=int, default=20)
    parser.add_argument("--impl", default="reference")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    oracle, impl = load("torch"), load(args.impl)

    specs, drawing = draw_specs(args.examples, args.seed, args.max_nodes)
    oracle_s = impl_s = compare_s = 0.0
    rejected = differing = 0
    for i, spec in enumerate(specs):
        if i % 100 == 99:
            gc.collect()  # as obsconf fuzz does
        case = graphs.to_case(spec)
        t0 = time.perf_counter()
        try:
            expected = produce_plan(case, oracle, collect=False)
        except CaseError:
            oracle_s += time.perf_counter() - t0
            rejected += 1
            continue
        t1 = time.perf_counter()
        try:
            actual = produce_plan(case, impl, collect=False)
        except CaseError:
            actual = None
        t2 = time.perf_counter()
        differing += actual is None or bool(diff.compare(expected, actual))
        t3 = time.perf_counter()
        oracle_s, impl_s, compare_s = oracle_s + t1 - t0, impl_s + t2 - t1, compare_s + t3 - t2
    total = drawing + oracle_s + impl_s + compare_s
    sizes = sorted(_nodes(s["graph"]) for s in specs)
    n = len(specs)
    print(f"{n} generated cases (nodes per graph, standalone graphs included: median {sizes[n // 2]}, "
          f"max {sizes[-1]}, mean {sum(sizes) / n:.1f}); {rejected} rejected by the oracle, {differing} differ")
    print(f"examples/s (one core): {n / total:.1f}  [{args.impl} vs torch, drawing included]")
    for name, seconds in (("drawing", drawing), ("oracle side", oracle_s), (f"{args.impl} side", impl_s),
                          ("comparing", compare_s)):
        print(f"  {name:<16} {seconds:7.1f} s  {1000 * seconds / n:6.1f} ms/example  {100 * seconds / total:4.0f} %")


if __name__ == "__main__":
    main()
