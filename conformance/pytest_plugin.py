"""pytest integration, registered by entry point (`pytest11`): in any project,

    pytest --obsconf-impl IUT [--obsconf-expectations FILE] [--obsconf-strict] [--obsconf-timeout S]
           [--obsconf-convert] [--obsconf-rejections message|class] [--obsconf-golden-dir DIR] [--obsconf-cases DIR] [-k ...] [-n 2]

collects the corpus as test items, one per case id (`conformance/suite.py::test_case[<id>]`).
A case the expectations file declares to differ or err is an xfail (xpass when it
conforms; a failure with --obsconf-strict), a declared skip is a skip; expectations that
matched no case are listed at the end. Works with pytest-xdist: every worker collects the
same items. Without --obsconf-impl nothing is added. An IUT that cannot be imported, an
expectations file, golden folder or cases folder that cannot be used is one usage error
before any item runs (exit 4), not an error per case; a failing case shows its
differences, not the suite's source.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .contract import ImplementationError, load
from .golden import GoldenError, GoldenStore
from .outcome import REJECTION_MATCHES

SUITE = Path(__file__).with_name("suite.py")


def pytest_addoption(parser):
    group = parser.getgroup("obsconf")
    group.addoption("--obsconf-impl", default=None,
                    help="implementation under test: torch, reference or pkg.mod:callable (adds one item per case)")
    group.addoption("--obsconf-expectations", default=None, metavar="FILE",
                    help="TOML file of expected differences, errors and skips for this IUT")
    group.addoption("--obsconf-strict", action="store_true", help="a case that conforms although declared not to fails")
    group.addoption("--obsconf-golden-dir", default=None, help="golden folder (default: golden/ of the obsconf checkout)")
    group.addoption("--obsconf-cases", default=None, metavar="DIR",
                    help="your own cases folder (obsconf --cases DIR): its cases join the corpus as the user family")
    group.addoption("--obsconf-timeout", default=None, type=float, metavar="SECONDS",
                    help="a case still running after this fails as timed out (Python-level hangs; for any hang "
                         "use `obsconf run`, whose workers are killed)")
    group.addoption("--obsconf-convert", action="store_true",
                    help="also convert each case's prepared model and compare it with the oracle's (obsconf run --convert)")
    group.addoption("--obsconf-rejections", choices=REJECTION_MATCHES, default=None,
                    help="how an IUT's refusal must match the oracle's on negative cases (obsconf run --rejections)")


def pytest_configure(config):
    if not config.getoption("--obsconf-impl"):
        return
    from .cases_folder import UserCasesError
    from .expectations import Expectations, ExpectationsError

    try:
        config._obsconf_impl = load(config.getoption("--obsconf-impl"))
        path = config.getoption("--obsconf-expectations")
        config._obsconf_expectations = Expectations.load(path) if path else None
        GoldenStore(config.getoption("--obsconf-golden-dir")).require_folder()
        cases = config.getoption("--obsconf-cases")
        if cases:
            from . import cases_folder

            if not Path(cases).is_dir():
                raise UserCasesError(f"--obsconf-cases {cases}: no such folder")
            cases_folder.choose(cases)
            from models import user

            user.load_entries()  # a cases file that does not read: said once, here
    except (ImplementationError, ExpectationsError, GoldenError, UserCasesError) as exc:
        raise pytest.UsageError(f"obsconf: {exc}") from None
    if config.getoption("--obsconf-convert"):
        from . import runner

        runner.CONVERT = True
    if config.getoption("--obsconf-rejections"):
        from . import runner

        runner.REJECTION_MATCH = config.getoption("--obsconf-rejections")
    if str(SUITE) not in map(str, config.args):
        config.args.append(str(SUITE))


def pytest_generate_tests(metafunc):
    if "obsconf_case" in metafunc.fixturenames:
        from models import all_cases

        cases = all_cases() if metafunc.config.getoption("--obsconf-impl") else []
        metafunc.parametrize("obsconf_case", cases, ids=[c.id for c in cases])


@pytest.fixture(scope="session")
def obsconf_impl(request):
    return request.config._obsconf_impl  # loaded (or refused) once, in pytest_configure


@pytest.fixture(scope="session")
def obsconf_expectations(request):
    return request.config._obsconf_expectations


@pytest.fixture
def obsconf_timeout(request):
    return request.config.getoption("--obsconf-timeout")


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
