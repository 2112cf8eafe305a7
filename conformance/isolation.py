"""Run cases in worker processes, so that an IUT that hangs, kills the interpreter,
leaks memory or changes torch's global state costs the case it did it on, and only that.

Each case runs in a child forked from the runner (torch and the IUT are imported once,
before any tensor op, so the fork is cheap and safe); the child sends its outcome back
through a pipe and exits. The parent runs up to `jobs` children at once, kills one that
passes `timeout` seconds, and turns a child that dies without an answer into that
case's error; `max_memory` (MB beyond what the runner maps) caps each child, so a leak
ends in that case's MemoryError. Children also compare a fingerprint of torch's module-level functions
before and after the IUT runs: an IUT that replaces one (a monkeypatch it does not undo)
fails that case with the names it replaced. Outcomes come back in case order, whatever
`jobs` is.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
from collections.abc import Callable, Iterable

from .contract import Implementation
from .golden import GoldenStore
from .runner import ERROR, Outcome, run_case

# Modules whose functions an IUT has no business replacing for good.
WATCHED = (
    "torch", "torch.nn.functional", "torch.fx", "torch.ao.quantization", "torch.ao.quantization.quantize_fx",
    "torch.ao.quantization.fx.prepare", "torch.ao.quantization.fx.utils", "torch.ao.quantization.observer",
)


def fingerprint() -> dict[str, int]:
    """`module.name` -> id of every callable at module level of the watched modules."""
    found = {}
    for module_name in WATCHED:
        module = sys.modules.get(module_name)
        if module is None:
            continue
        for name, value in list(vars(module).items()):
            if callable(value) and not name.startswith("__"):
                found[f"{module_name}.{name}"] = id(value)
    return found


def settle_torch() -> None:
    """Run torch's own prepare_fx once in the runner, before any fork: torch imports some
    modules lazily on the first prepare, and one of them may rebind a watched function
    (torch 2.15 imports torch._dynamo there, which wraps torch.manual_seed). Done in every
    child instead, that would read as the IUT changing torch's global state."""
    import warnings

    import torch
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import prepare_fx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            prepare_fx(torch.nn.Sequential(torch.nn.Linear(2, 2)).eval(), get_default_qconfig_mapping(),
                       (torch.randn(1, 2),))
        except Exception:  # noqa: BLE001 (a release that cannot do even this fails its cases on its own)
            pass
    from .runner import release_torch_caches

    release_torch_caches()


def _limit_memory(megabytes: int) -> None:
    """Let this process map at most `megabytes` more than it has now: an IUT that leaks
    fails its own case with a MemoryError instead of taking the machine down."""
    import resource

    with open("/proc/self/statm") as statm:
        mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = mapped + megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _child(case, impl: Implementation, store: GoldenStore, write_fd: int, max_memory: int | None = None) -> None:
    """In the forked child: run the case, check torch's state, send the outcome, exit."""
    try:
        if max_memory:
            _limit_memory(max_memory)
        before = fingerprint()
        outcome = run_case(case, impl, store)
        changed = sorted(k for k, v in fingerprint().items() if before.get(k, v) != v)
        if changed:
            outcome = Outcome(case.id, ERROR, message=(
                f"IUT {impl.name!r} changed torch's global state and left it changed: "
                f"{', '.join(changed[:3])}{' ...' if len(changed) > 3 else ''} replaced"))
        payload = {"status": outcome.status, "differences": outcome.differences, "message": outcome.message}
    except BaseException as exc:  # noqa: BLE001 (anything at all becomes this case's error)
        payload = {"status": ERROR, "differences": [], "message": f"worker failed: {type(exc).__name__}: {exc}"}
    data = json.dumps(payload).encode()
    with os.fdopen(write_fd, "wb") as pipe:
        pipe.write(data)
    os._exit(0)


def death_message(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        hint = " (out of memory?)" if sig == signal.SIGKILL else ""
        return f"the worker process was killed by {name}{hint} while the IUT ran; no outcome"
    return f"the worker process exited with code {os.WEXITSTATUS(status)} while the IUT ran; no outcome"


def kill_overdue(running: dict, overdue: Callable) -> list:
    """Kill and reap every child in `running` (read fd -> child with a `pid`) that `overdue`
    says has run too long; close its pipe, drop it from `running`, and return them."""
    killed = []
    for fd, child in list(running.items()):
        if overdue(child):
            os.kill(child.pid, signal.SIGKILL)
            os.waitpid(child.pid, 0)
            os.close(fd)
            del running[fd]
            killed.append(child)
    return killed


class _Running:
    def __init__(self, index, case, pid, read_fd):
        self.index, self.case, self.pid, self.read_fd = index, case, pid, read_fd
        self.started = time.monotonic()
        self.data = b""


def run_isolated(cases: Iterable, impl: Implementation, store: GoldenStore, jobs: int = 1,
                 timeout: float | None = None, on_outcome: Callable[[Outcome], None] | None = None,
                 max_memory: int | None = None) -> list[Outcome]:
    """Every case's outcome, each case in its own forked worker, `jobs` at a time."""
    cases = list(cases)
    settle_torch()
    results: dict[int, Outcome] = {}
    reported = 0
    pending = list(enumerate(cases))
    running: dict[int, _Running] = {}  # read fd -> child

    def finish(child: _Running, outcome: Outcome) -> None:
        nonlocal reported
        results[child.index] = outcome
        while reported in results:  # hand outcomes on in case order
            if on_outcome is not None:
                on_outcome(results[reported])
            reported += 1

    while pending or running:
        while pending and len(running) < max(1, jobs):
            index, case = pending.pop(0)
            read_fd, write_fd = os.pipe()
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:  # the child
                os.close(read_fd)
                _child(case, impl, store, write_fd, max_memory)
            os.close(write_fd)
            running[read_fd] = _Running(index, case, pid, read_fd)
        now = time.monotonic()
        wait = 0.5 if timeout is None else max(0.0, min(0.5, min(timeout - (now - c.started) for c in running.values())))
        ready, _, _ = select.select(list(running), [], [], wait)
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            child = running[fd]
            if chunk:
                child.data += chunk
                continue
            # end of file: the child is done (or dead)
            os.close(fd)
            del running[fd]
            _, status = os.waitpid(child.pid, 0)
            if child.data:
                try:
                    payload = json.loads(child.data)
                    finish(child, Outcome(child.case.id, payload["status"], payload["differences"], payload["message"]))
                    continue
                except (ValueError, KeyError):
                    pass
            finish(child, Outcome(child.case.id, ERROR, message=death_message(status)))
        if timeout is not None:
            now = time.monotonic()
            for child in kill_overdue(running, lambda c: now - c.started > timeout):
                finish(child, Outcome(child.case.id, ERROR,
                                      message=f"timed out after {timeout:g} s (the worker process was killed)"))
    return [results[i] for i in range(len(cases))]

