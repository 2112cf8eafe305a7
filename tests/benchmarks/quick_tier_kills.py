"""Does the quick tier kill what the whole corpus kills? Runs every mutant of prepare.py
against the quick tier's cases alone and compares with the full run's results.

    python -m tests.benchmarks.quick_tier_kills [-j 2]

Needs the full run's results in the cache (`obsconf strength` first). The quick-only run
keeps its own cache (strength-quick/ in the cache folder, with a copy of the line map),
so the full results stay as they are; it runs at depth `all` (every quick case that
executes a mutant's statement). Prints how many of the corpus's kills the tier repeats,
and any mutant it misses. Figures, not a test: about ten minutes on two cores.
"""

from __future__ import annotations

import argparse
import shutil
import time

from conformance import cache, mutants, quick, strength
from conformance.cli import select


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-j", "--jobs", type=int, default=2)
    args = parser.parse_args()
    source = mutants.source_path().read_text()
    full_dir = strength.cache_dir(source)
    full = strength.load_results(full_dir)
    chosen = mutants.generate(source)
    killed = {m.id for m in chosen if full.get(m.id, {}).get("status") == strength.KILLED}
    if not killed:
        raise SystemExit(f"no results in {full_dir}: run `obsconf strength` first")
    _, reasons = quick.read()
    cases = [c for c in select(None) if c.id in reasons]
    strength.CACHE_ROOT = cache.root() / "strength-quick"
    quick_dir = strength.cache_dir(source)
    quick_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(full_dir / "lines.json", quick_dir / "lines.json")
    start = time.monotonic()
    _, results, _ = strength.run(cases, jobs=args.jobs, fresh=True, depth="all")
    wall = time.monotonic() - start
    repeated = {m for m in killed if results.get(m, {}).get("status") == strength.KILLED}
    print(f"quick tier ({len(cases)} cases) kills {len(repeated)} of the {len(killed)} mutants the corpus kills "
          f"({wall:.0f} s on {args.jobs} core(s))")
    for mutant in sorted(killed - repeated):
        print(f"MISSED {mutant} (the corpus's killer: {full[mutant].get('case')})")


if __name__ == "__main__":
    main()
