"""pytest integration: every case as a test item (`pytest --impl IUT`; no items without --impl).

Loaded with `-p conformance.pytest_plugin` (pyproject.toml does this for obsconf's own
tests). A test that asks for the `obsconf_case` fixture is parametrised over the
corpus, one item per case id; `pytest -k resnet18` selects as usual.
"""

from __future__ import annotations

import pytest

from models import all_cases

from .contract import ImplementationError, load
from .golden import GoldenStore


def pytest_addoption(parser):
    group = parser.getgroup("obsconf")
    group.addoption("--impl", default=None,
                    help="implementation under test: torch, reference or pkg.mod:callable (without it, no case items)")
    group.addoption("--golden-dir", default=None, help="golden folder (default: golden/ of this checkout)")


def pytest_generate_tests(metafunc):
    if "obsconf_case" in metafunc.fixturenames:
        # Without --impl there is nothing to check: obsconf's own CI proves the oracle with
        # `obsconf regen --check` and the reference with tests/test_reference.py.
        cases = all_cases() if metafunc.config.getoption("--impl") else []
        metafunc.parametrize("obsconf_case", cases, ids=[c.id for c in cases])


@pytest.fixture(scope="session")
def obsconf_impl(request):
    spec = request.config.getoption("--impl")
    try:
        return load(spec)
    except ImplementationError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.fixture(scope="session")
def golden_store(request):
    return GoldenStore(request.config.getoption("--golden-dir"))
