"""Planted faults on real corpus cases are reported with exactly the planted difference."""

import pytest

from conformance.cli import find_case
from conformance.contract import load
from conformance.runner import CONFORM, DIFFER, ERROR, run_case


def outcome(case_id, impl, golden_store):
    return run_case(find_case(case_id), load(impl), golden_store)


@pytest.mark.parametrize(
    "case_id, impl, expected",
    [
        (
            "patterns/linear/x86-static",
            "tests.planted:drop_one_observer",
            ["missing observer on x -> linear (arg 0) [HistogramObserver]"],
        ),
        (
            "patterns/cat/x86-static",
            "tests.planted:drop_one_observer",
            ["missing observer on x -> {conv1 (arg 0), conv2 (arg 0)} [HistogramObserver]"],
        ),
        (
            "patterns/conv-bn-relu/x86-qat",
            "tests.planted:output_observer_qint8",
            ["observer on conv -> output (arg 0): dtype quint8 != qint8"],
        ),
        (
            # one shared instance seen on three edges: still one line
            "patterns/cat/x86-static",
            "tests.planted:output_observer_qint8",
            ["observer on {cat -> output (arg 0), conv1 -> cat (arg 0[0]), conv2 -> cat (arg 0[1])}: dtype quint8 != qint8"],
        ),
        (
            "patterns/cat/x86-static",
            "tests.planted:split_shared_observer",
            [
                "sharing differs: expected {cat -> output (arg 0), conv1 -> cat (arg 0[0]), conv2 -> cat (arg 0[1])}, "
                "got {cat -> output (arg 0)} + {conv1 -> cat (arg 0[0]), conv2 -> cat (arg 0[1])}"
            ],
        ),
        (
            "standalone/by-name/x86-static",
            "tests.planted:drop_one_observer",
            ["missing observer on x -> conv (arg 0) [HistogramObserver]"],
        ),
    ],
)
def test_planted_fault_is_exactly_reported(case_id, impl, expected, golden_store):
    result = outcome(case_id, impl, golden_store)
    assert result.status == DIFFER
    assert result.differences == expected


def test_oracle_itself_conforms_on_the_planted_cases(golden_store):
    assert outcome("patterns/cat/x86-static", "torch", golden_store).status == CONFORM


@pytest.mark.parametrize(
    "impl, message",
    [
        ("tests.planted:raises", "IUT 'tests.planted:raises' raised RuntimeError: planted failure with a second line"),
        ("tests.planted:returns_none", "IUT 'tests.planted:returns_none' returned NoneType, not a torch.fx.GraphModule"),
    ],
)
def test_misbehaving_iut_costs_one_case_with_one_line(impl, message, golden_store):
    result = outcome("patterns/linear/x86-static", impl, golden_store)
    assert result.status == ERROR
    assert result.message == message
    assert result.report() == f"ERROR patterns/linear/x86-static: {message}"
