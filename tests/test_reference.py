"""The reference: it conforms on the whole corpus, it does the placing itself (break a
rule and cases differ), it explains every observer, and it stays a readable spec."""

import ast
import inspect
from pathlib import Path

import pytest

import reference
import reference.observers
import reference.sharing
from conformance.cli import main
from conformance.contract import load
from conformance.golden import GoldenStore
from conformance.runner import CONFORM, DIFFER, SKIPPED, run_case
from models import all_cases
from tests import reference_size

REFERENCE = load("reference")
CASES = {c.id: c for c in all_cases()}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_reference_conforms(case):
    outcome = run_case(case, REFERENCE, GoldenStore())
    if outcome.status == SKIPPED:
        pytest.skip(outcome.message)
    assert outcome.status == CONFORM, outcome.report()


def test_breaking_the_input_rule_makes_cases_differ(monkeypatch):
    monkeypatch.setattr(reference.observers, "needs_observer", lambda *args, **kwargs: False)
    outcome = run_case(CASES["patterns/linear/x86-static"], REFERENCE, GoldenStore())
    assert outcome.status == DIFFER
    # needs_observer decides outputs too: both observers go
    assert outcome.differences == [
        "missing observer on linear -> output (arg 0) [HistogramObserver]",
        "missing observer on x -> linear (arg 0) [HistogramObserver]",
    ]


def test_breaking_sharing_makes_cat_differ(monkeypatch):
    monkeypatch.setattr(reference.sharing, "share_input_observer", lambda p, node: True)
    outcome = run_case(CASES["patterns/cat/x86-static"], REFERENCE, GoldenStore())
    assert outcome.status == DIFFER
    assert any(line.startswith("sharing differs") for line in outcome.differences), outcome.differences


def test_explain_names_the_rule_of_every_observer(capsys):
    assert main(["explain", "patterns/cat/x86-static"]) == 0
    out = capsys.readouterr().out
    assert "cat -> output (arg 0): obs0 HistogramObserver <- output + shared" in out
    assert "x -> conv1 (arg 0): obs3 HistogramObserver <- input" in out
    statement = " ".join(inspect.getdoc(reference.sharing.share_input_observer).split())
    assert f"  shared: {statement} [reference/sharing.py:share_input_observer]" in out


def test_explain_covers_standalone_modules(capsys):
    assert main(["explain", "standalone/by-name/x86-static"]) == 0
    lines = capsys.readouterr().out.splitlines()
    at = lines.index("standalone module sub:")
    assert "    x -> conv (arg 0): obs1 HistogramObserver <- input" in lines[at:]


def test_explain_needs_an_implementation_that_records_rules(capsys):
    assert main(["explain", "patterns/linear/x86-static", "--impl", "torch"]) == 1
    out = capsys.readouterr().out.strip()
    assert out == "ERROR patterns/linear/x86-static: this implementation records no rules (explain works with --impl reference)"


def test_every_recorded_rule_is_stated():
    for key, func in reference.RULES.items():
        assert inspect.getdoc(func), f"rule {key}: {func.__name__} has no docstring"


def test_every_public_function_states_its_rule():
    missing = []
    for path in sorted(Path(reference.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                if ast.get_docstring(node) is None:
                    missing.append(f"{path.name}:{node.name}")
    assert missing == []


def test_reference_stays_within_its_budget():
    total = sum(code for code, _ in reference_size.sizes().values())
    assert 0 < total <= reference_size.BUDGET


def test_size_counts_code_not_docstrings_or_comments():
    source = 'def f():\n    """Doc\n    string."""\n    # a comment\n\n    return 1\n'
    assert reference_size.code_lines(source) == 2
