"""The suite's own tests keep obsconf's state (case index, last failures, strength
results) in a folder of their own, never in the user's cache folder."""

import pytest


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
