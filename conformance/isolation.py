"""Run cases in worker processes, so that an IUT that hangs, kills the interpreter,
leaks memory or changes torch's global state costs the case it did it on, and only that.

The runner forks `jobs` workers once (torch and the IUT are imported and settled first,
and the heap is frozen, so a fork is cheap and safe) and hands each worker one case at a
time through a pipe; the worker sends the case's outcome back as one JSON line. A fork
per case would be simpler, but copying the page tables and the pages a child touches
cost more than the cases themselves (2 m 19 s against 1 m 49 s in one process for the
reference on the corpus). So a worker is retired, and a fresh one forked in its place,
whenever it may no longer be as the runner forked it:

- it dies without an answer (a segfault, `os._exit`): that case's error;
- it passes `timeout` seconds on one case: killed, that case's error;
- the IUT replaced one of torch's module-level functions and left it so (a fingerprint
  taken before and after every case tells): that case's error;
- it holds much more memory than it started with (`RETIRE_GROWTH_MB`): no case's fault,
  but a leak must not pile up into a later case's failure.

`max_memory` (MB beyond what the worker maps when forked) caps each worker's address
space, so a runaway allocation ends in that case's MemoryError instead of taking the
machine down. Outcomes come back in case order, whatever `jobs` is, and equal those of
a run in one process.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable

from . import interrupt
from .contract import Implementation
from .golden import GoldenStore
from .runner import ERROR, Outcome, resident_mb, run_case

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

    release_torch_caches(now=True)


def _limit_memory(megabytes: int) -> None:
    """Let this process map at most `megabytes` more than it has now: an IUT that leaks
    fails its own case with a MemoryError instead of taking the machine down."""
    import resource

    with open("/proc/self/statm") as statm:
        mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = mapped + megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


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


# A worker whose resident memory grew by more than this since it was forked is retired
# after its case: what an IUT leaks dies with the worker.
RETIRE_GROWTH_MB = 2048


def default_jobs() -> int:
    """Every core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def default_max_memory(jobs: int) -> int:
    """MB each of `jobs` workers may map beyond what it maps when forked: three quarters of
    the machine's memory shared between them (at least 2 GB each)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (AttributeError, ValueError, OSError):
        return 8192
    return max(2048, int(total * 0.75) // max(1, jobs))


def _worker(cases: list, impl: Implementation, store: GoldenStore, commands_fd: int, results_fd: int,
            max_memory: int | None) -> None:
    """In a forked worker: run the case whose index arrives on `commands_fd`, answer on
    `results_fd` with one JSON line, until told nothing more or until retired; then exit."""
    try:
        interrupt.ignore_in_worker()
        if max_memory:
            _limit_memory(max_memory)
        pristine = fingerprint()
        started_mb = resident_mb()
        with os.fdopen(commands_fd, "r") as commands, os.fdopen(results_fd, "w") as results:
            for line in commands:
                case = cases[int(line)]
                retire = False
                try:
                    outcome = run_case(case, impl, store)
                    changed = sorted(k for k, v in fingerprint().items() if pristine.get(k, v) != v)
                    if changed:
                        retire = True
                        outcome = Outcome(case.id, ERROR, message=(
                            f"IUT {impl.name!r} changed torch's global state and left it changed: "
                            f"{', '.join(changed[:3])}{' ...' if len(changed) > 3 else ''} replaced"))
                    payload = {"status": outcome.status, "differences": outcome.differences, "message": outcome.message,
                               "detail": outcome.detail, "seconds": outcome.seconds, "actual_plan": outcome.actual_plan}
                except BaseException as exc:  # noqa: BLE001 (anything at all becomes this case's error)
                    retire = True
                    payload = {"status": ERROR, "differences": [], "message": f"worker failed: {type(exc).__name__}: {exc}"}
                retire = retire or resident_mb() - started_mb > RETIRE_GROWTH_MB
                payload["retire"] = retire
                results.write(json.dumps(payload) + "\n")
                results.flush()
                if retire:
                    break
    finally:
        os._exit(0)


class _Worker:
    def __init__(self, pid: int, commands_fd: int, results_fd: int):
        self.pid, self.commands_fd, self.results_fd = pid, commands_fd, results_fd
        self.index: int | None = None  # the case it runs now
        self.started = 0.0
        self.buffer = b""

    def send(self, index: int) -> None:
        self.index, self.started = index, time.monotonic()
        os.write(self.commands_fd, f"{index}\n".encode())

    def close(self, kill: bool = False) -> int:
        """Close its pipes (an idle worker then exits), reap it and return its status."""
        if kill:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for fd in (self.commands_fd, self.results_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        _, status = os.waitpid(self.pid, 0)
        return status


def run_isolated(cases: Iterable, impl: Implementation, store: GoldenStore, jobs: int = 1,
                 timeout: float | None = None, on_outcome: Callable[[Outcome], None] | None = None,
                 max_memory: int | None = None, on_start: Callable[[list[str]], None] | None = None,
                 stop: Callable[[], bool] | None = None) -> list[Outcome]:
    """Every case's outcome, the cases shared out among `jobs` worker processes.
    `on_start` hears the ids of the cases running whenever that set changes. When `stop`
    says so (a Ctrl-C), no case is started any more, the cases running are abandoned
    (their workers killed), and the outcomes of the cases finished are handed on and
    returned, in case order."""
    cases = list(cases)
    settle_torch()
    results: dict[int, Outcome] = {}
    reported = 0
    pending = deque(range(len(cases)))
    workers: dict[int, _Worker] = {}  # results fd -> worker

    def finish(index: int, outcome: Outcome) -> None:
        nonlocal reported
        results[index] = outcome
        while reported in results:  # hand outcomes on in case order
            if on_outcome is not None:
                on_outcome(results[reported])
            reported += 1

    def spawn() -> _Worker:
        commands_r, commands_w = os.pipe()
        results_r, results_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker
            for other in workers.values():
                for fd in (other.commands_fd, other.results_fd):
                    os.close(fd)
            os.close(commands_w)
            os.close(results_r)
            _worker(cases, impl, store, commands_r, results_w, max_memory)
        os.close(commands_r)
        os.close(results_w)
        worker = _Worker(pid, commands_w, results_r)
        workers[results_r] = worker
        return worker

    def retire(worker: _Worker, kill: bool = False) -> int:
        del workers[worker.results_fd]
        return worker.close(kill)

    def busy() -> list[_Worker]:
        return [w for w in workers.values() if w.index is not None]

    def announce() -> None:
        if on_start is not None:
            on_start([cases[w.index].id for w in sorted(busy(), key=lambda w: w.index)])

    try:
        while pending or busy():
            if stop is not None and stop():
                break
            changed = False
            for worker in [w for w in workers.values() if w.index is None]:
                if pending:
                    index = pending.popleft()
                    try:
                        worker.send(index)
                    except BrokenPipeError:  # it died while idle: no case's fault
                        pending.appendleft(index)
                        worker.index = None
                        retire(worker, kill=True)
                    changed = True
            while pending and len(workers) < max(1, jobs):
                spawn().send(pending.popleft())
                changed = True
            if changed:
                announce()
            running = busy()
            now = time.monotonic()
            wait = 0.5 if timeout is None else max(0.0, min(0.5, min(timeout - (now - w.started) for w in running)))
            ready, _, _ = select.select([w.results_fd for w in running], [], [], wait)
            for fd in ready:
                worker = workers[fd]
                chunk = os.read(fd, 1 << 16)
                if not chunk:  # it died before answering
                    index = worker.index
                    seconds = time.monotonic() - worker.started
                    status = retire(worker)
                    finish(index, Outcome(cases[index].id, ERROR, message=death_message(status), seconds=seconds))
                    announce()
                    continue
                worker.buffer += chunk
                while b"\n" in worker.buffer and worker.index is not None:
                    line, worker.buffer = worker.buffer.split(b"\n", 1)
                    index, worker.index = worker.index, None
                    try:
                        payload = json.loads(line)
                        outcome = Outcome(cases[index].id, payload["status"], payload["differences"], payload["message"],
                                          payload.get("detail", ""), payload.get("seconds", 0.0),
                                          payload.get("actual_plan", ""))
                    except (ValueError, KeyError):
                        payload, outcome = {"retire": True}, Outcome(cases[index].id, ERROR, message="the worker process sent an unreadable outcome")
                    if payload.get("retire"):
                        retire(worker, kill=True)
                    finish(index, outcome)
                    announce()
            if timeout is not None:
                now = time.monotonic()
                for worker in [w for w in busy() if now - w.started > timeout]:
                    index = worker.index
                    retire(worker, kill=True)
                    finish(index, Outcome(cases[index].id, ERROR, seconds=now - worker.started,
                                          message=f"timed out after {timeout:g} s (the worker process was killed)"))
                    announce()
    finally:
        for worker in list(workers.values()):
            retire(worker, kill=worker.index is not None)
        for index in sorted(i for i in results if i >= reported):  # finished after a case not finished
            if on_outcome is not None:
                on_outcome(results[index])
    return [results[i] for i in sorted(results)]
