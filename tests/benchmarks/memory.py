"""Memory over long runs: an IUT (default the oracle) over the corpus, several laps, RSS after each.

    python -m tests.benchmarks.memory [--laps 3] [-k PATTERN] [--keep-cache] [--impl IUT] [--every N]

torch >= 2.10 memoises assert_and_get_unique_device(module), which keeps every
prepared model alive. The runner clears that cache after each case; --keep-cache
skips the clearing (garbage collection still runs) to show what it saves. Flat means
lap 2 and later end at about the RSS of lap 1. Figures, not a pass/fail test: the
machines are shared.
"""

from __future__ import annotations

import argparse
import gc
import time

from conformance import runner
from conformance.cli import select
from conformance.contract import load


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--laps", type=int, default=3)
    parser.add_argument("-k", action="append")
    parser.add_argument("--keep-cache", action="store_true", help="do not clear torch's device cache between cases")
    parser.add_argument("--impl", default="torch", help="the implementation to run (default: the oracle)")
    parser.add_argument("--every", type=int, default=0, help="also print RSS every N cases within a lap")
    args = parser.parse_args()
    if args.keep_cache:
        runner.release_torch_caches = gc.collect
    cases = select(args.k)
    impl = load(args.impl)
    print(f"{impl.name}: {len(cases)} cases, {'keeping' if args.keep_cache else 'clearing'} torch's device cache; start RSS {rss_mib():.0f} MiB")
    for lap in range(1, args.laps + 1):
        start = time.perf_counter()
        peak = 0.0
        for i, case in enumerate(cases, 1):
            runner.produce_plan(case, impl)
            peak = max(peak, rss_mib())
            if args.every and i % args.every == 0:
                print(f"  {i} cases: RSS {rss_mib():.0f} MiB", flush=True)
        print(f"lap {lap}: end RSS {rss_mib():.0f} MiB, peak {peak:.0f} MiB, {time.perf_counter() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main()
