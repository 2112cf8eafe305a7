"""Speed of the reference against torch's prepare on three large torchvision models.

    python -m tests.benchmarks.reference_speed [--repeat 3] [--model NAME ...]

Both run on the same model (built on the meta device, x86 static mapping, x86 backend
config) in one process. "prepare step" is everything after tracing and fusion (torch:
`torch.ao.quantization.fx.prepare.prepare`; the reference: what follows its
`trace_and_fuse`), the part each implements itself; "end to end" is the whole call.
Best of --repeat runs, the two taking turns. Figures, not a pass/fail test: the machines are shared.

A full garbage collection, not timed, runs just before each step (torch: on entering its
prepare; the reference: as its trace_and_fuse returns). Without it a step pays for the
collections that building and tracing the model made due: whichever step crosses
CPython's threshold walks the whole traced model (20-40 ms), and which one does is luck.
Each step still pays for the collections its own allocations cause. `--no-collect`
measures without it.
"""

from __future__ import annotations

import argparse
import gc
import time
import warnings

import torch
import torchvision
from torch.ao.quantization import get_default_qconfig_mapping
from torch.ao.quantization.backend_config.x86 import get_x86_backend_config

import reference.pipeline
from conformance.runner import release_torch_caches

MODELS = {
    "efficientnet_v2_l": torchvision.models.efficientnet_v2_l,
    "maxvit_t": torchvision.models.maxvit_t,
    "mvit_v2_s": torchvision.models.video.mvit_v2_s,
}
INPUTS = {"mvit_v2_s": (1, 3, 16, 224, 224)}


class Stopwatch:
    """Wraps `owner.name` so the time spent inside it is added to `self.seconds`. With
    `collect` ("before" or "after" the call), a full garbage collection runs there,
    outside `seconds`; its own time goes to `self.collecting`."""

    def __init__(self, owner, name, collect=None):
        self.owner, self.name, self.collect = owner, name, collect
        self.seconds = self.collecting = 0.0
        self.original = getattr(owner, name)

    def _collect(self, when):
        if self.collect == when:
            start = time.perf_counter()
            gc.collect()
            self.collecting += time.perf_counter() - start

    def __enter__(self):
        def timed(*args, **kwargs):
            self._collect("before")
            start = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self._collect("after")

        setattr(self.owner, self.name, timed)
        return self

    def __exit__(self, *exc):
        setattr(self.owner, self.name, self.original)


def measure(name: str, which: str, collect: bool = True) -> tuple[float, float]:
    """(end to end, prepare step) seconds for one run of `which` on model `name`; with
    `collect`, the step starts from a collected heap (the collection is left out of both)."""
    from torch.ao.quantization import quantize_fx

    with torch.device("meta"):
        model = MODELS[name](weights=None).eval()
    inputs = (torch.randn(*INPUTS.get(name, (1, 3, 224, 224))),)
    mapping, backend = get_default_qconfig_mapping("x86"), get_x86_backend_config()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if which == "torch":
            with Stopwatch(quantize_fx, "prepare", "before" if collect else None) as step:
                start = time.perf_counter()
                quantize_fx.prepare_fx(model, mapping, inputs, backend_config=backend)
                total = time.perf_counter() - start - step.collecting
            step_seconds = step.seconds
        else:
            with Stopwatch(reference.pipeline, "trace_and_fuse", "after" if collect else None) as front:
                start = time.perf_counter()
                reference.prepare(model, mapping, inputs, backend_config=backend)
                total = time.perf_counter() - start - front.collecting
            step_seconds = total - front.seconds
    release_torch_caches(now=True)
    return total, step_seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", action="append", choices=sorted(MODELS), help="default: all three")
    parser.add_argument("--no-collect", dest="collect", action="store_false",
                        help="no full collection before each step (a step may pay for tracing's)")
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, best of {args.repeat}, "
          f"{'a full collection before each step' if args.collect else 'no collection before the steps'}")
    print(f"{'model':20} {'torch step':>11} {'ref step':>9} {'ratio':>6}   {'torch e2e':>10} {'ref e2e':>8} {'ratio':>6}")
    for name in args.model or list(MODELS):
        runs: dict[str, list] = {"torch": [], "reference": []}
        for _ in range(args.repeat):  # interleaved, so that both see the machine in the same moods
            for which in runs:
                runs[which].append(measure(name, which, args.collect))
        best = {which: (min(r[0] for r in rs), min(r[1] for r in rs)) for which, rs in runs.items()}
        (t_e2e, t_step), (r_e2e, r_step) = best["torch"], best["reference"]
        print(f"{name:20} {t_step:10.2f}s {r_step:8.2f}s {t_step / r_step:5.1f}x   "
              f"{t_e2e:9.2f}s {r_e2e:7.2f}s {t_e2e / r_e2e:5.1f}x", flush=True)


if __name__ == "__main__":
    main()
