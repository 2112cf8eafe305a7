"""Stopping a long command between cases on Ctrl-C (SIGINT) or SIGTERM.

Inside `stop_requests()`, the first signal only sets a flag that the command's loop reads
between cases: in this process the case running now finishes, in workers it is abandoned
(the worker is killed), and the command then reports what it finished and exits
128 + the signal's number (130 for Ctrl-C). A second signal raises KeyboardInterrupt at
once, for a case that would never end in this process. A KeyboardInterrupt raised any
other way (the handler is not installed off the main thread) is treated the same.

Without the flag, Python raises KeyboardInterrupt wherever the main thread is; inside a
weakref callback during a garbage collection it is printed and dropped, and the run went
on to the end.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequests:
    def __init__(self):
        self.signum: int | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def request(self, signum: int = signal.SIGINT) -> None:
        if self.signum is None:
            self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or signal.SIGINT)


@contextlib.contextmanager
def stop_requests(what: str = "stopping after the case running now"):
    """The flag for the `with` block (see the module docstring); `what` is what the first
    signal says will happen."""
    state = StopRequests()
    # the stream in effect now: while a case runs in this process, sys.stderr is that
    # case's capture buffer, and the message would be lost with the case's output
    stderr = sys.stderr

    def handler(signum, frame):
        if state.requested:
            raise KeyboardInterrupt
        state.request(signum)
        print(f"\nobsconf: {signal.Signals(signum).name}: {what} (again to stop at once)",
              file=stderr, flush=True)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield state
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def ignore_in_worker() -> None:
    """In a worker process: the parent decides when to stop (a Ctrl-C in a terminal
    reaches the whole process group)."""
    for s in SIGNALS:
        signal.signal(s, signal.SIG_IGN)
