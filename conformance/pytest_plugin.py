"""pytest integration, registered by entry point (`pytest11`): in any project,

    pytest --obsconf-impl IUT [--obsconf-expectations FILE] [--obsconf-strict] [-k ...] [-n 2]

collects the corpus as test items, one per case id (`conformance/suite.py::test_case[<id>]`).
A case the expectations file declares to differ or err is an xfail (xpass when it
conforms; a failure with --obsconf-strict), a declared skip is a skip; expectations that
matched no case are listed at the end. Works with pytest-xdist: every worker collects the
same items. Without --obsconf-impl nothing is added.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .contract import ImplementationError, load
from .golden import GoldenStore

SUITE = Path(__file__).with_name("suite.py")


def pytest_addoption(parser):
    group = parser.getgroup("obsconf")
    group.addoption("--obsconf-impl", default=None,
                    help="implementation under test: torch, reference or pkg.mod:callable (adds one item per case)")
    group.addoption("--obsconf-expectations", default=None, metavar="FILE",
                    help="TOML file of expected differences, errors and skips for this IUT")
    group.addoption("--obsconf-strict", action="store_true", help="a case that conforms although declared not to fails")
    group.addoption("--obsconf-golden-dir", default=None, help="golden folder (default: golden/ of the obsconf checkout)")


def pytest_configure(config):
    if config.getoption("--obsconf-impl") and str(SUITE) not in map(str, config.args):
        config.args.append(str(SUITE))


def pytest_generate_tests(metafunc):
    if "obsconf_case" in metafunc.fixturenames:
        from models import all_cases

        cases = all_cases() if metafunc.config.getoption("--obsconf-impl") else []
        metafunc.parametrize("obsconf_case", cases, ids=[c.id for c in cases])


@pytest.fixture(scope="session")
def obsconf_impl(request):
    try:
        return load(request.config.getoption("--obsconf-impl"))
    except ImplementationError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.fixture(scope="session")
def obsconf_expectations(request):
    from .expectations import Expectations, ExpectationsError

    path = request.config.getoption("--obsconf-expectations")
    if not path:
        return None
    try:
        expectations = Expectations.load(path)
    except ExpectationsError as exc:
        raise pytest.UsageError(str(exc)) from None
    request.config._obsconf_expectations = expectations
    return expectations


@pytest.fixture(scope="session")
def golden_store(request):
    return GoldenStore(request.config.getoption("--obsconf-golden-dir"))


def pytest_terminal_summary(terminalreporter, config):
    expectations = getattr(config, "_obsconf_expectations", None)
    if expectations is None or hasattr(config, "workerinput"):
        return
    # under xdist each worker uses its own share; only a run in one process can tell what went unused
    if getattr(config.option, "numprocesses", None):
        return
    for entry in expectations.unused():
        terminalreporter.write_line(f"obsconf: UNUSED {entry.describe()} matched no case of this run")
