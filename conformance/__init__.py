"""obsconf's conformance runner: plans, comparison, goldens, the CLI and the pytest plugin."""

__version__ = "0.1.0"


def compare(model, example_inputs, qconfig="x86-static", backend=None, impl="torch", against="torch"):
    """The differences between two implementations on a model outside the corpus (empty
    when they agree); see conformance/byo.py."""
    from .byo import compare as _compare

    return _compare(model, example_inputs, qconfig, backend, impl, against)
