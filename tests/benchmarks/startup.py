"""Start-up time of the commands that should answer at once (target: under 1 s each).

    python -m tests.benchmarks.startup [--repeat 3]

Each command runs as a user types it (`python -m conformance ...`, a fresh interpreter),
after one run that makes sure the case index exists; the best of --repeat runs is
printed, with `python -c pass` and `import torch` for scale. Figures, not a test.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

COMMANDS = [
    ["--help"],
    ["list"],
    ["show", "patterns/cat/x86-static"],
    ["explain", "patterns/cat/x86-statc"],
    ["run", "--impl", "reference", "-k", "no-such-case"],
]


def best(argv: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "conformance", "list"], stdout=subprocess.DEVNULL)
    print(f"{best([sys.executable, '-c', 'pass'], args.repeat):.2f} s  python -c pass")
    print(f"{best([sys.executable, '-c', 'import torch'], args.repeat):.2f} s  python -c 'import torch'")
    for argv in COMMANDS:
        seconds = best([sys.executable, "-m", "conformance", *argv], args.repeat)
        print(f"{seconds:.2f} s  obsconf {' '.join(argv)}", flush=True)


if __name__ == "__main__":
    main()
