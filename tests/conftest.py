"""The suite's own tests keep obsconf's state (case index, last failures, strength
results) in a folder of their own, never in the user's cache folder; the files holding
the slowest tests run first."""

import pytest

# The files holding the suite's slowest tests (20 s to a minute each: `pytest --durations=40`),
# slowest first. Under pytest-xdist (.ci/run: -n 2) a worker that meets one of them last
# runs it alone while the other worker idles; started first, they overlap with the rest.
SLOW_FILES = ("test_strength.py", "test_pt2e.py", "test_pytest_plugin.py", "test_hypothesis_graphs.py",
              "test_rejections.py", "test_isolation.py", "test_quick_tier.py", "test_convert_check.py")


def pytest_collection_modifyitems(config, items):
    """The slow files' tests first, in SLOW_FILES' order; each file's own order and every
    other file's are kept (a stable sort: every xdist worker collects the same order)."""
    def rank(item):
        name = item.path.name
        return SLOW_FILES.index(name) if name in SLOW_FILES else len(SLOW_FILES)

    items.sort(key=rank)


@pytest.fixture(autouse=True, scope="session")
def _private_cache_folder(tmp_path_factory):
    import os

    from conformance import cache

    saved = os.environ.get(cache.ENV)
    os.environ[cache.ENV] = str(tmp_path_factory.mktemp("obsconf-cache"))
    yield
    if saved is None:
        os.environ.pop(cache.ENV, None)
    else:
        os.environ[cache.ENV] = saved
