"""Generated graphs: the strategies make valid cases, the reference agrees with the oracle
on them, a planted fault is found and shrunk and its pending case can be accepted, the
metamorphic invariants hold for the oracle and the reference and catch the faults they
are about, and the frozen family is sound."""

import json

import pytest
import torch
from hypothesis import example, given, settings

from conformance import fuzz, generate, metamorphic
from conformance.cli import main
from conformance.contract import load
from conformance.golden import GoldenStore
from conformance.runner import CONFORM, ERROR, run_case
from models import all_cases, graphs, hypothesis_graphs

ORACLE = load("torch")
REFERENCE = load("reference")


def _shapes(value):
    if value[0] == "tuple":
        return tuple(_shapes(v) for v in value[1])
    return tuple(value[1])


def _actual_shapes(out):
    if isinstance(out, (tuple, list)):
        return tuple(_actual_shapes(v) for v in out)
    return tuple(out.shape)


@settings(settings.get_profile("ci"), max_examples=40)
@given(generate.graph_specs(max_nodes=20))
def test_generated_graphs_run_forward_with_the_shapes_the_spec_infers(graph):
    values = graphs.check_graph(graph)
    model = graphs.build_model(graph).eval()
    out = model(*graphs.example_inputs(graph))
    picked = [values[v] for v in graph["outputs"]["values"]]
    outs = {"single": lambda o: [o], "tuple": list, "dict": lambda o: list(o.values())}[graph["outputs"]["form"]](out)
    assert [_actual_shapes(o) for o in outs] == [_shapes(v) for v in picked]


# Durable examples: shapes the generator reaches only now and then.
CAT_OF_ONE_INPUT = {  # what the planted cat fault shrinks to
    "graph": {"inputs": [[1, 2]], "nodes": [{"op": "torch.cat", "args": [0, 0], "params": {"dim": 1}}],
              "outputs": {"form": "single", "values": [1]}},
    "config": {"backend": "x86", "qat": False, "mapping": {"base": "default"}},
}
LSTM_HIDDEN_STATE = {  # the custom LSTM, its hidden-state tuple taken apart, QAT
    "graph": {"inputs": [[2, 1, 3]], "nodes": [
        {"op": "nn.LSTM", "args": [0], "params": {"fin": 3, "hidden": 2, "layers": 1}, "name": "nn_lstm_0"},
        {"op": "getitem", "args": [1], "params": {"index": 1}},
        {"op": "getitem", "args": [2], "params": {"index": 0}},
        {"op": "nn.Linear", "args": [3], "params": {"fin": 2, "fout": 2}, "name": "nn_linear_3"}],
        "outputs": {"form": "tuple", "values": [4, 3]}},
    "config": {"backend": "qnnpack", "qat": True, "mapping": {"base": "default"}, "custom_lstm": True},
}
STANDALONE_BY_CLASS = {  # a standalone module by class, quantized input and output, inside a regex'd mapping
    "graph": {"inputs": [[1, 2, 2, 2]], "nodes": [
        {"op": "standalone", "args": [0], "name": "standalone_0", "params": {
            "by": "class", "input_quantized": True, "output_quantized": True,
            "graph": {"inputs": [[1, 2, 2, 2]], "nodes": [
                {"op": "nn.Conv2d", "args": [0], "params": {"cin": 2, "cout": 2, "k": 1}, "name": "nn_conv2d_0"}],
                "outputs": {"form": "single", "values": [1]}}}},
        {"op": "operator.add", "args": [1, 0]}],
        "outputs": {"form": "dict", "values": [2]}},
    "config": {"backend": "x86", "qat": False,
               "mapping": {"base": "empty", "global": "default", "regex": [["standalone_", None]]}},
}


@settings(settings.get_profile("ci"), max_examples=30)
@given(generate.case_specs())
@example(CAT_OF_ONE_INPUT)
@example(LSTM_HIDDEN_STATE)
@example(STANDALONE_BY_CLASS)
def test_the_reference_prepares_generated_cases_as_the_oracle_does(spec):
    differences = fuzz.differential(spec, REFERENCE, ORACLE)
    assert not differences, differences


def test_the_reference_agrees_with_the_oracle_on_generated_cases():
    report = fuzz.fuzz(REFERENCE, ORACLE, profile="ci", examples=60)
    assert report.divergence is None, report.divergence
    assert report.compared >= 50


def test_a_planted_cat_fault_is_found_shrunk_and_frozen(tmp_path):
    planted = load("tests.planted:oracle_without_cat_sharing")
    report = fuzz.fuzz(planted, ORACLE, seed=3, max_nodes=4)  # small graphs: found and shrunk in half the time
    assert report.divergence is not None
    spec = report.divergence.spec
    assert len(spec["graph"]["nodes"]) <= 3
    assert any(n["op"] == "torch.cat" for n in spec["graph"]["nodes"])
    assert any("cat" in line for line in report.divergence.differences)

    pending = fuzz.write_pending(report.divergence, {"impl": planted.name, "seed": 3}, folder=tmp_path / "pending")
    assert pending.with_suffix(".plan").is_file()
    recorded = json.loads(pending.read_text())
    assert recorded["found"]["torch"] == torch.__version__ and recorded["found"]["differences"]

    store = GoldenStore(tmp_path / "golden")
    messages = []
    assert fuzz.accept_pending(tmp_path / "pending", tmp_path / "frozen", store, messages.append) == (1, 0)
    assert not list((tmp_path / "pending").iterdir())
    frozen = hypothesis_graphs.load_spec(tmp_path / "frozen" / pending.name)
    case = graphs.to_case(frozen, "hypothesis", name=pending.stem)
    assert messages == [f"accepted {case.id}"]
    assert run_case(case, ORACLE, store).status == CONFORM
    assert run_case(case, planted, store).status == "differ"


# The oracle refuses it: under x86's default mapping, a Conv2d given a qconfig object of its
# own differs from the ReLU it fuses with (the shrunk example `obsconf fuzz` found for
# tests.planted:never_refuses).
FUSED_PARTS_DISAGREE = {
    "graph": {"inputs": [[1, 1, 2, 2]], "nodes": [
        {"op": "nn.Conv2d", "args": [0], "name": "nn_conv2d_0", "params": {"cin": 1, "cout": 2, "k": 1}},
        {"op": "nn.ReLU", "args": [1], "name": "nn_relu_1"}],
        "outputs": {"form": "single", "values": [2]}},
    "config": {"backend": "x86", "qat": False,
               "mapping": {"base": "default", "object_type": [["torch.nn.Conv2d", "default"]]}},
}


def test_refusals_are_compared_not_discarded():
    assert fuzz.differential(FUSED_PARTS_DISAGREE, REFERENCE, ORACLE) == []
    [line] = fuzz.differential(FUSED_PARTS_DISAGREE, load("tests.planted:never_refuses"), ORACLE)
    assert line.startswith("accepts what the oracle rejects: LookupError: During fusion, we need to specify the same qconfigs")
    [line] = fuzz.differential(FUSED_PARTS_DISAGREE, load("tests.planted:refuses_with_another_class"), ORACLE)
    assert line.startswith("rejects differently: LookupError: ") and " != RuntimeError: " in line
    # an IUT that words its refusals its own way and says so is matched by class
    assert fuzz.differential(FUSED_PARTS_DISAGREE, load("tests.planted:refuses_in_its_own_words_by_class"), ORACLE) == []
    [line] = fuzz.differential(FUSED_PARTS_DISAGREE, ORACLE, load("tests.planted:never_refuses"))
    assert line.startswith("rejects what the oracle accepts: LookupError: ")


def test_an_implementation_that_never_refuses_is_found_shrunk_and_frozen_as_a_negative_case(tmp_path):
    planted = load("tests.planted:never_refuses")
    report = fuzz.fuzz(planted, ORACLE, seed=1, examples=800)
    assert report.divergence is not None, report.summary()
    assert report.refused >= 1 and f"of them refused by {ORACLE.name}" in report.summary()
    [line] = report.divergence.differences
    assert line.startswith("accepts what the oracle rejects: ")
    assert len(report.divergence.spec["graph"]["nodes"]) <= 3  # shrunk

    pending = fuzz.write_pending(report.divergence, {"impl": planted.name, "seed": 1}, folder=tmp_path / "pending")
    assert json.loads(pending.read_text())["rejects"] is True
    assert "[rejection]" in pending.with_suffix(".plan").read_text()
    store = GoldenStore(tmp_path / "golden")
    messages = []
    assert fuzz.accept_pending(tmp_path / "pending", tmp_path / "frozen", store, messages.append) == (1, 0)
    case = hypothesis_graphs.load_case(tmp_path / "frozen" / pending.name)[1]
    assert messages == [f"accepted {case.id}"] and "rejects" in case.tags
    assert run_case(case, ORACLE, store).status == CONFORM
    assert run_case(case, REFERENCE, store).status == CONFORM
    outcome = run_case(case, planted, store)
    assert outcome.status == "differ" and outcome.differences == [line]


def test_accepting_marks_a_case_negative_exactly_when_the_oracle_refuses_it(tmp_path):
    (tmp_path / "pending").mkdir()
    accepted = {**FUSED_PARTS_DISAGREE, "config": {**FUSED_PARTS_DISAGREE["config"], "mapping": {"base": "default"}}}
    for spec, says in ((FUSED_PARTS_DISAGREE, False), (accepted, True)):  # each file says the wrong thing
        text = fuzz.spec_text({**spec, "rejects": says})
        (tmp_path / "pending" / f"{graphs.spec_digest(spec)}.json").write_text(text)
    messages = []
    store = GoldenStore(tmp_path / "golden")
    assert fuzz.accept_pending(tmp_path / "pending", tmp_path / "frozen", store, messages.append) == (2, 0)
    assert sorted(m.split(":")[1] for m in messages if m.startswith("NOTE")) == [
        " the oracle accepts it now; frozen as a positive case", " the oracle refuses it now; frozen as a negative case"]
    for spec, negative in ((FUSED_PARTS_DISAGREE, True), (accepted, False)):
        path = tmp_path / "frozen" / f"{graphs.spec_digest(spec)}.json"
        case = hypothesis_graphs.load_case(path)[1]
        assert ("rejects" in case.tags) is negative and ('"rejects": true' in path.read_text()) is negative
        assert run_case(case, ORACLE, store).status == CONFORM


def test_freezing_negative_cases_spreads_them_over_refusals(tmp_path):
    assert fuzz.freeze_sample(1, 5, ORACLE, frozen=tmp_path, say=lambda _: None, negatives=1) == 2
    specs = [hypothesis_graphs.load_spec(p) for p in sorted(tmp_path.glob("*.json"))]
    assert sorted(bool(s.get("rejects")) for s in specs) == [False, True]
    for spec in specs:
        assert fuzz.oracle_golden(graphs.to_case(spec))[1] is bool(spec.get("rejects"))
    refused = {("A", "x"): {"a1": {}, "a2": {}, "a3": {}}, ("B", "y"): {"b1": {}}, ("C", "z"): {"c1": {}}}
    assert list(fuzz._spread(refused, 4)) == ["a1", "b1", "c1", "a2"]
    assert list(fuzz._spread(refused, 9)) == ["a1", "b1", "c1", "a2", "a3"]


def test_a_spec_says_rejects_as_true_or_false():
    with pytest.raises(graphs.SpecError, match="rejects must be true or false, not 'yes'"):
        graphs.to_case({**FUSED_PARTS_DISAGREE, "rejects": "yes"})
    assert "rejects" in graphs.to_case({**FUSED_PARTS_DISAGREE, "rejects": True}).tags
    assert "rejects" not in graphs.to_case(FUSED_PARTS_DISAGREE).tags


def test_an_unreadable_pending_case_stays_pending(tmp_path):
    bad = {"graph": {"inputs": [[1, 2]], "nodes": [], "outputs": {"form": "single", "values": [0]}},
           "config": {"backend": "x86", "qat": False, "mapping": {"base": "empty", "global": "per_tensor"}}}
    (tmp_path / "pending").mkdir()
    (tmp_path / "pending" / "broken.json").write_text("{not json")
    messages = []
    assert fuzz.accept_pending(tmp_path / "pending", tmp_path / "frozen", GoldenStore(tmp_path / "g"), messages.append) == (0, 1)
    assert messages[0].startswith("ERROR broken.json: unreadable generated case")
    assert (tmp_path / "pending" / "broken.json").exists()
    assert graphs.to_case(bad).id.startswith("hypothesis/")


@pytest.mark.parametrize("impl", [ORACLE, REFERENCE], ids=["torch", "reference"])
@pytest.mark.parametrize("invariant", metamorphic.INVARIANTS)
def test_invariants_hold(impl, invariant):
    checked, message, spec = metamorphic.run_invariants(impl, examples=25, which=(invariant,))
    assert message is None, f"{message}\n{spec}"
    assert checked >= 20


@pytest.mark.parametrize(
    "invariant, planted",
    [
        ("rename", "name_dependent"),
        ("reorder", "order_dependent"),
        ("respell", "dict_mapping_loses_object_types"),
        ("no-qconfig", "ignores_global_none"),
        ("duplicate", "first_of_each_class"),
    ],
)
def test_each_invariant_catches_its_fault(invariant, planted):
    impl = load(f"tests.planted:{planted}")
    # not shrunk: finding it is the point here (test_a_planted_cat_fault_... shows shrinking)
    _, message, spec = metamorphic.run_invariants(impl, examples=200, seed=1, which=(invariant,), shrink=False)
    assert message is not None, f"{invariant} did not catch {planted}"
    assert spec is not None


def test_rename_plan_keeps_method_targets_and_inserted_kinds():
    from conformance.plan import Edge, Plan

    plan = Plan(edges={Edge("getitem", "add", "arg 0"): ("obs0",)}, observers={"obs0": "X()"},
                graph=("getitem = call_function operator.getitem(lstm, 0)", "reshape = call_method reshape(getitem, 1)",
                       "+DeQuantStub[getitem] = call_module +DeQuantStub[getitem](getitem)"))
    renamed = metamorphic.rename_plan(plan, {"getitem": "getitem_1", "reshape": "reshape_2"})
    assert list(renamed.edges) == [Edge("getitem_1", "add", "arg 0")]
    assert renamed.graph[1] == "reshape_2 = call_method reshape(getitem_1, 1)"
    assert renamed.graph[0].startswith("getitem_1 = call_function operator.getitem(")


def test_profiles_are_registered():
    ci, deep = settings.get_profile("ci"), settings.get_profile("deep")
    assert ci.derandomize and ci.database is None and ci.max_examples <= 100
    assert not deep.derandomize and deep.max_examples >= 10_000


def test_cli_fuzz_and_invariants(capsys):
    assert main(["fuzz", "--impl", "reference", "--examples", "15"]) == 0
    assert "15 compared (" in capsys.readouterr().out
    assert main(["fuzz", "--impl", "reference", "--profile", "nope"]) == 2
    assert main(["invariants", "--impl", "reference", "--examples", "10", "--only", "rename"]) == 0
    assert "all hold" in capsys.readouterr().out
    assert main(["invariants", "--impl", "reference", "--only", "nope"]) == 2


# -- the frozen family -----------------------------------------------------------------------------


FROZEN = hypothesis_graphs.frozen_files()


def test_the_frozen_family_is_large_and_named_by_digest():
    assert len(FROZEN) >= 500
    negative = [p for p in FROZEN if hypothesis_graphs.load_spec(p).get("rejects")]
    assert len(negative) >= 30  # frozen from `obsconf fuzz --negatives`, over several refusals
    negative_ids = {c.id.split("/")[1] for c in all_cases() if c.id.startswith("hypothesis/") and "rejects" in c.tags}
    assert negative_ids == {p.stem for p in negative}
    for path in FROZEN:
        spec = hypothesis_graphs.load_spec(path)
        assert graphs.spec_digest(spec) == path.stem, path
    ids = [c.id for c in all_cases() if c.id.startswith("hypothesis/")]
    assert len(ids) == len(FROZEN)


def test_an_unreadable_frozen_file_costs_one_case(tmp_path, monkeypatch):
    (tmp_path / "0badc0ffee00.json").write_text('{"graph": {"inputs": [[1, 2]], "nodes": [{"op": "nope", "args": [0]}]}}')
    monkeypatch.setattr(hypothesis_graphs, "FROZEN_DIR", tmp_path)
    [recipe] = hypothesis_graphs._recipes()
    from models.recipe import Case

    outcome = run_case(Case(recipe, recipe.presets[0]), ORACLE, GoldenStore(tmp_path))
    assert outcome.status == ERROR
    assert "0badc0ffee00.json" in outcome.message and "unknown op 'nope'" in outcome.message


def test_spec_errors_name_the_problem():
    with pytest.raises(graphs.SpecError, match="node 0 \\(nn.Linear\\): does not apply"):
        graphs.check_graph({"inputs": [[1, 3]], "nodes": [{"op": "nn.Linear", "args": [0], "params": {"fin": 5, "fout": 2}}],
                            "outputs": {"form": "single", "values": [1]}})
    with pytest.raises(graphs.SpecError, match="unknown qconfig name 'weird'"):
        graphs.qconfig("weird", "x86", False)
