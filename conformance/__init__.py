"""obsconf's conformance runner: plans, comparison, goldens, the CLI and the pytest plugin."""

__version__ = "0.1.0"
