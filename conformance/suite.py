"""The corpus as pytest items, added by the obsconf pytest plugin when --obsconf-impl is given.

A case with an expectation is marked xfail (strict with --obsconf-strict), raising only
ExpectedOutcome: a declared difference is an xfail, a conforming case an XPASS, and a
case that differs otherwise than declared a plain failure."""

import contextlib
import signal
import threading

import pytest

from conformance.expectations import EXPECTED, judge
from conformance.runner import CONFORM, SKIPPED, run_case


class ExpectedOutcome(Exception):
    """The case did what its expectation declares."""


def test_case(obsconf_case, obsconf_impl, golden_store, obsconf_expectations, obsconf_timeout, request):
    __tracebackhide__ = True  # a failure shows the case's differences, not this file
    expectation = obsconf_expectations.find(obsconf_case.id) if obsconf_expectations else None
    if expectation is not None:
        expectation.used += 1
        if expectation.outcome == "skip":
            pytest.skip(f"expected skip: {expectation.reason}")
        request.node.add_marker(pytest.mark.xfail(
            reason=f"expected {expectation.outcome}: {expectation.reason}", raises=ExpectedOutcome,
            strict=request.config.getoption("--obsconf-strict")))
    with time_limit(obsconf_timeout, obsconf_case.id):
        outcome = run_case(obsconf_case, obsconf_impl, golden_store)
    if outcome.status == SKIPPED:
        pytest.skip(outcome.message)
    verdict = judge(outcome, expectation)
    if verdict.kind == EXPECTED:
        raise ExpectedOutcome(outcome.report())
    if outcome.status == CONFORM:
        return  # with an expectation: an XPASS
    pytest.fail(outcome.report() + (f"\n({verdict.why})" if expectation else ""), pytrace=False)


@contextlib.contextmanager
def time_limit(seconds, case_id):
    """Fail the case when it runs past `seconds` (SIGALRM: the main thread, Python-level code)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def overdue(signum, frame):
        pytest.fail(f"ERROR {case_id}: timed out after {seconds:g} s", pytrace=False)

    previous = signal.signal(signal.SIGALRM, overdue)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
