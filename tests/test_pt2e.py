"""prepare_pt2e's path: the pt2e family, its contract and the reference's annotation rules."""

from __future__ import annotations

import json

import pytest

import models
from conformance.cli import main
from conformance.contract import ImplementationError, load
from conformance.golden import GoldenStore
from conformance.outcome import CONFORM, DIFFER, REJECTS, SKIPPED
from conformance.runner import run_case
from models import pt2e, pt2e_annotations

STORE = GoldenStore()


def _case(case_id):
    return next(c for c in models.all_cases() if c.id == case_id)


def test_every_xnnpack_annotator_has_a_pattern_model():
    OP_TO_ANNOTATOR = pt2e._source().module("xnnpack_utils").OP_TO_ANNOTATOR

    assert set(pt2e.XNNPACK_PATTERNS) == set(OP_TO_ANNOTATOR)


def test_every_quantizable_x86_op_has_a_pattern_model():
    x86 = pt2e._source().module("x86")
    ops = x86.quantizable_ops | x86.default_quantizable_ops | x86.propagation_quantizable_ops
    assert set(pt2e.X86_OP_PATTERNS) == {str(op) for op in ops}


@pytest.mark.parametrize("name", sorted(pt2e.X86_OP_PATTERNS))
def test_each_x86_op_pattern_exports_to_its_op(name):
    recipe = next(r for r in pt2e.RECIPES if r.name == f"ops/x86-{name.split('.')[1]}")
    case = next(c for c in models.all_cases() if c.recipe is recipe)
    graph = case.materialise().model.graph
    assert name in {str(n.target) for n in graph.nodes if n.op == "call_function"}


def test_the_family_lists_every_kind(capsys):
    assert main(["list", "--family", "pt2e", "--tags"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len([c for c in models.all_cases() if c.path == "pt2e"]) >= 380
    kinds = {line.split("/")[1] for line in lines}
    assert kinds == {"ops", "vision", "annotations", "hypothesis"}
    assert all(line.startswith("pt2e/") and "pt2e" in line.split("\t")[1].split(",") for line in lines)
    presets = {line.split("\t")[0].rsplit("/", 1)[1] for line in lines}
    assert set(pt2e.PRESETS) | {"annotation-static", "annotation-qat", "annotations-static", "annotations-qat"} == presets


def test_every_annotation_kind_runs_under_ptq_and_qat():
    ids = {c.id for c in models.all_cases()}
    for name, (_, _, _, refuses) in pt2e_annotations.ANNOTATIONS.items():
        for preset in ("annotation-static", "annotation-qat"):
            case = _case(f"pt2e/annotations/{name}/{preset}")
            assert case.is_qat == (preset == "annotation-qat") and (REJECTS in case.tags) == refuses
    assert len([i for i in ids if i.startswith("pt2e/annotations/")]) == 2 * len(pt2e_annotations.ANNOTATIONS)


@pytest.mark.parametrize("case_id, expected", [
    ("pt2e/annotations/implicit-sharing-on/annotation-static",
     ["extra observer on conv2d -> hardtanh (arg 0) [HistogramObserver]",
      "extra observer on conv2d -> relu (arg 0) [HistogramObserver]"]),
    ("pt2e/annotations/shared-weight/annotation-qat",
     ["observer nodes differ at weight: expected weight -> {linear (arg 1), linear_1 (arg 1)}, "
      "got weight -> linear (arg 1) + weight -> linear_1 (arg 1)"]),
])
def test_without_implicit_sharing_the_shared_observers_split(case_id, expected):
    outcome = run_case(_case(case_id), load("tests.planted:pt2e_without_implicit_sharing"), STORE)
    assert outcome.status == DIFFER and outcome.differences == expected


def test_implicit_sharing_off_is_the_same_with_or_without_the_flag():
    case = _case("pt2e/annotations/implicit-sharing-off/annotation-static")
    assert run_case(case, load("tests.planted:pt2e_without_implicit_sharing"), STORE).status == CONFORM


def test_a_derived_bias_left_unobserved_is_one_missing_observer():
    case = _case("pt2e/annotations/derived-bias/annotation-static")
    outcome = run_case(case, load("tests.planted:pt2e_ignores_derived_specs"), STORE)
    assert outcome.status == DIFFER
    assert outcome.differences == ["missing observer on conv_bias -> conv2d (arg 2) [DerivedObserverOrFakeQuantize]"]


def test_the_golden_names_what_a_derived_observer_reads():
    text = STORE.path("pt2e/annotations/derived-bias/annotation-static").read_text()
    assert "[derived observers]\nobs1 = models.pt2e_annotations.bias_qparams of [obs3, obs2]\n" in text
    assert "conv_bias -> conv2d (arg 2): obs1" in text and "x -> conv2d (arg 0): obs3" in text


def test_a_quantizer_is_checked_with_the_oracle_s_prepare():
    impl = load("tests.planted:xnnpack_per_tensor_quantizer")
    assert impl.prepare is None and impl.prepare_pt2e is not None
    static = run_case(_case("pt2e/ops/linear/xnnpack-static"), impl, STORE)
    per_channel = run_case(_case("pt2e/ops/linear/xnnpack-per-channel"), impl, STORE)
    assert static.status == CONFORM
    assert per_channel.status == DIFFER
    assert per_channel.differences == [
        "observer on op0_weight -> linear (arg 1): class PerChannelMinMaxObserver != MinMaxObserver"]


def test_an_fx_only_implementation_skips_pt2e_cases_saying_why():
    outcome = run_case(_case("pt2e/ops/linear/xnnpack-static"), load("tests.planted:drop_one_observer"), STORE)
    assert outcome.status == SKIPPED
    assert "does not offer the pt2e contract" in outcome.message and "obsconf_contract" in outcome.message


def test_a_pt2e_only_implementation_skips_fx_cases():
    outcome = run_case(_case("patterns/linear/x86-static"), load("tests.planted:pt2e_without_implicit_sharing"), STORE)
    assert outcome.status == SKIPPED and "does not offer the fx contract" in outcome.message


def test_an_unknown_contract_is_a_setup_error(tmp_path, monkeypatch):
    (tmp_path / "odd_contract.py").write_text("def f(*a, **k):\n    pass\nf.obsconf_contract = 'onnx'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImplementationError, match="obsconf_contract must be one of"):
        load("odd_contract:f")
    (tmp_path / "odd_counterpart.py").write_text("def f(*a, **k):\n    pass\nf.obsconf_pt2e = 'prepare_pt2e'\n")
    with pytest.raises(ImplementationError, match="'odd_counterpart:f': obsconf_pt2e is not callable"):
        load("odd_counterpart:f")


def test_an_fx_callable_offers_the_pt2e_path_through_its_counterpart():
    impl = load("tests.planted:never_refuses")
    assert impl.prepare is not None and impl.prepare_pt2e is not None


def test_the_reference_refuses_as_the_oracle_on_the_pt2e_negative_cases(capsys):
    assert main(["run", "--impl", "reference", "--family", "pt2e", "--tag", "rejects", "-j", "1",
                 "--quiet-progress"]) == 0
    out = capsys.readouterr().out
    negative = len([c for c in models.all_cases() if c.path == "pt2e" and REJECTS in c.tags])
    assert f"negative cases: {negative} of {negative} refused as the oracle refuses" in out


def test_explain_names_the_rule_and_the_annotation(capsys):
    assert main(["explain", "pt2e/annotations/shared-edge/annotation-static"]) == 0
    out = capsys.readouterr().out
    assert ("conv2d -> add (arg 0): obs3 HistogramObserver <- annotated-output [conv2d's output_qspec: "
            "QuantizationSpec]") in out
    assert "add -> output (arg 0[0]): obs0 HistogramObserver <- annotated-output [add's output_qspec: " \
           "SharedQuantizationSpec]" in out
    assert "x -> conv2d (arg 0): obs5 HistogramObserver <- annotated-input [conv2d's input_qspec_map[x]" in out
    assert "annotated-input: An argument" in out  # the rule, stated by its docstring


@pytest.mark.parametrize("wanted, says", [
    ("none", "OBSCONF_PT2E=none: the pt2e path is not run in this environment"),
    ("torchao-nightly", "OBSCONF_PT2E='torchao-nightly': say 'torchao', 'torch.ao' or 'none'"),
    ("torch.ao", "no PT2E implementation is importable here (torch.ao: ModuleNotFoundError: "),
])
def test_obsconf_pt2e_chooses_the_source_or_skips_the_case_saying_why(monkeypatch, tmp_path, wanted, says):
    """At the default pins torchao is the source; torch 2.14 has no torch.ao prepare_pt2e."""
    from models import pt2e_source

    monkeypatch.setenv(pt2e_source.ENV, wanted)
    pt2e_source._chosen.cache_clear()
    report = tmp_path / "run.json"
    try:
        assert main(["run", "--impl", "reference", "-k", "pt2e/ops/conv/xnnpack-static", "-j", "1",
                     "--json", str(report)]) == 0
        [entry] = json.loads(report.read_text())["cases"]
        assert entry["status"] == "skipped" and entry["message"].startswith(says), entry
    finally:
        monkeypatch.delenv(pt2e_source.ENV)
        pt2e_source._chosen.cache_clear()
    assert pt2e_source.source() == pt2e_source.TORCHAO


def test_a_json_report_names_what_the_pt2e_cases_ran_on(tmp_path):
    import torchao

    report = tmp_path / "run.json"
    assert main(["run", "--impl", "reference", "-k", "pt2e/ops/conv/xnnpack-static", "-j", "1",
                 "--json", str(report)]) == 0
    assert json.loads(report.read_text())["pt2e"] == f"torchao {torchao.__version__}"
    assert main(["run", "--impl", "reference", "-k", "patterns/cat/x86-static", "-j", "1",
                 "--json", str(report)]) == 0
    assert "pt2e" not in json.loads(report.read_text())


def test_the_export_is_the_same_wherever_the_suite_runs():
    """torch.export leaves the guards module out when a file on the stack has "torchao" in
    its path (a checkout or tox environment named so); the suite's exports keep it there."""
    import torch
    import torch.export._unlift

    from models.recipe import export_for_quantization

    if not hasattr(torch.export._unlift, "_ok_to_generate_guards_fn"):
        pytest.skip(f"torch {torch.__version__} exports no guards module")
    model, inputs = torch.nn.Linear(2, 2), (torch.randn(1, 2),)
    here = export_for_quantization(model, inputs)
    caller = compile("exported = export(model, inputs)", "/home/someone/torchao-work/obsconf/run.py", "exec")
    scope = {"export": export_for_quantization, "model": model, "inputs": inputs}
    exec(caller, scope)
    assert hasattr(here, "_guards_fn")
    assert hasattr(scope["exported"], "_guards_fn") and scope["exported"].code == here.code


def test_an_old_capture_gets_the_names_the_later_exports_give():
    """capture_pre_autograd_graph (torch 2.1 ... 2.4) names inputs `arg0_1` and parameters
    `_param_constant0`; the harness gives them forward's names and the model's paths, as
    torch.export names them, leaving the graph as it was."""
    import torch
    from torch.fx import Graph, GraphModule

    from models.recipe import _named_as_export_names

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.op0 = torch.nn.Linear(3, 2)

        def forward(self, x):
            return self.op0(x)

    model = Model()
    root = torch.nn.Module()
    root._param_constant0, root._param_constant1 = model.op0.weight, model.op0.bias
    graph = Graph()
    x = graph.placeholder("arg0")
    weight, bias = graph.get_attr("_param_constant0"), graph.get_attr("_param_constant1")
    graph.output([graph.call_function(torch.ops.aten.linear.default, (x, weight, bias))])
    captured = GraphModule(root, graph)
    assert [n.name for n in captured.graph.nodes][:3] == ["arg0", "_param_constant0", "_param_constant1"]
    inputs = (torch.randn(4, 3),)
    renamed = _named_as_export_names(captured, model, inputs)
    nodes = list(renamed.graph.nodes)
    assert [(n.name, n.target) for n in nodes[:3]] == [("x", "x"), ("op0_weight", "op0.weight"), ("op0_bias", "op0.bias")]
    assert renamed.op0.weight is model.op0.weight and not hasattr(renamed, "_param_constant0")
    assert torch.equal(renamed(*inputs)[0], model(*inputs))
    # torch 2.4 keeps the flattened path as the target (a copy of the tensor, node `_param_constant0`)
    root = torch.nn.Module()
    root.op0_weight = torch.nn.Parameter(model.op0.weight.detach().clone())
    graph = Graph()
    x = graph.placeholder("arg0")
    weight = graph.create_node("get_attr", "op0_weight", name="_param_constant0")
    graph.output([graph.call_function(torch.ops.aten.linear.default, (x, weight))])
    renamed = _named_as_export_names(GraphModule(root, graph), model, inputs)
    assert [(n.name, n.target) for n in list(renamed.graph.nodes)[:2]] == [("x", "x"), ("op0_weight", "op0.weight")]
    assert torch.equal(renamed.op0.weight, model.op0.weight) and not hasattr(renamed, "op0_weight")


def test_under_torch_2_2_an_old_capture_keeps_its_top_level_attributes(monkeypatch):
    """torch 2.1 and 2.2's pt2e code reads getattr(model, node.target): there the nodes get
    the later names and the parameters stay where the capture put them."""
    import torch
    from torch.fx import Graph, GraphModule

    import models.recipe
    from models.recipe import _named_as_export_names

    monkeypatch.setattr(models.recipe, "_NESTED_GET_ATTR", False)
    model = torch.nn.Sequential()
    model.add_module("op0", torch.nn.Linear(3, 2))
    root = torch.nn.Module()
    root._param_constant0 = model.op0.weight
    graph = Graph()
    x = graph.placeholder("arg0")
    graph.output([graph.call_function(torch.ops.aten.linear.default, (x, graph.get_attr("_param_constant0")))])
    renamed = _named_as_export_names(GraphModule(root, graph), model, (torch.randn(4, 3),))
    weight = list(renamed.graph.nodes)[1]
    assert (weight.name, weight.target) == ("op0_weight", "_param_constant0")
    assert getattr(renamed, weight.target) is model.op0.weight


def test_under_torch_2_1_an_old_capture_gets_the_later_op_names(monkeypatch):
    """torch 2.1's capture names an op's node after its overload (`linear_default`) and its
    fx Node has no _rename: the harness names the nodes as later captures do (`linear`,
    `relu`, `relu_1`), numbered in graph order, and the module still runs."""
    import torch
    from torch.fx import Graph, GraphModule, Node

    import models.recipe
    from models.recipe import _named_as_export_names

    monkeypatch.setattr(models.recipe, "_NESTED_GET_ATTR", False)
    monkeypatch.setattr(models.recipe, "_OVERLOAD_NAMED_OPS", True)
    monkeypatch.delattr(Node, "_rename")

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.op0 = torch.nn.Linear(3, 2, bias=False)

        def forward(self, x):
            return self.op0(x)

    model = Model()
    root = torch.nn.Module()
    root._param_constant0 = model.op0.weight
    graph = Graph()
    x = graph.placeholder("arg0_1")
    linear = graph.create_node("call_function", torch.ops.aten.linear.default,
                               (x, graph.get_attr("_param_constant0")), name="linear_default")
    relu = graph.create_node("call_function", torch.ops.aten.relu.default, (linear,), name="relu_default")
    relu_again = graph.create_node("call_function", torch.ops.aten.relu.default, (relu,), name="relu_default_1")
    graph.output([relu_again])
    inputs = (torch.randn(4, 3),)
    renamed = _named_as_export_names(GraphModule(root, graph), model, inputs)
    assert [n.name for n in renamed.graph.nodes] == ["x", "op0_weight", "linear", "relu", "relu_1", "output"]
    assert "relu_1 = torch.ops.aten.relu.default(relu)" in renamed.code
    assert torch.equal(renamed(*inputs)[0], torch.relu(model(*inputs)))


def test_a_quantizer_config_this_release_lacks_skips_its_cases(monkeypatch):
    """torch 2.2's X86InductorQuantizer has no dynamic config (get_default_..._config takes
    is_qat only; 2.1's not even that): the x86-inductor-dynamic cases skip there, saying
    why, as a dtype a release lacks does, rather than failing to build."""
    from models import SkipCase, pt2e, pt2e_source

    x86 = pt2e_source.module("x86")
    original = x86.get_default_x86_inductor_quantization_config

    def before_dynamic(is_qat: bool = False):
        return original(is_qat=is_qat)

    assert pt2e.PRESETS["x86-inductor-dynamic"].quantizer() is not None
    monkeypatch.setattr(x86, "get_default_x86_inductor_quantization_config", before_dynamic)
    assert pt2e.PRESETS["x86-inductor-static"].quantizer() is not None
    with pytest.raises(SkipCase, match="X86InductorQuantizer config takes no is_dynamic"):
        pt2e.PRESETS["x86-inductor-dynamic"].quantizer()


def test_annotations_do_not_move_with_the_fake_values_a_capture_records():
    """torch 2.1's capture records no fake value on get_attr nodes: the hand-written and
    generated annotations still count a parameter as a tensor input, so they land on the
    same edges as where the capture records one."""
    from models.pt2e_annotations import Kit, apply_entries, every_input

    def annotated(strip: bool, annotate):
        model = _case("pt2e/annotations/every-input/annotation-static").materialise().model
        if strip:
            for node in model.graph.nodes:
                if node.op == "get_attr":
                    node.meta.pop("val", None)
        annotate(model, Kit(False))
        return {node.name: sorted(a.name for a in node.meta["quantization_annotation"].input_qspec_map)
                for node in model.graph.nodes if "quantization_annotation" in node.meta}

    entries = [{"node": 0, "inputs": [[1, {"kind": "weight"}], [2, {"kind": "act-int8"}]],
                "output": {"kind": "act-int8"}}]
    for annotate in (every_input, lambda model, kit: apply_entries(entries, model, kit)):
        with_values = annotated(False, annotate)
        assert any("conv1_weight" in inputs for inputs in with_values.values())
        assert annotated(True, annotate) == with_values


def test_each_call_gets_an_exported_model_of_its_own():
    """The export is kept per recipe; what one IUT does to its copy reaches no later case."""
    import torch

    from models.recipe import _EXPORTS

    case = _case("pt2e/ops/conv/xnnpack-static")
    first = case.materialise().model
    for node in first.graph.nodes:
        node.meta["quantization_annotation"] = "planted"
        node.meta.get("nn_module_stack", {})["planted"] = ("planted", "planted")
    with torch.no_grad():
        for parameter in first.parameters():
            parameter.add_(1)
    second = case.materialise().model
    fresh, _ = _EXPORTS._export(case.recipe, case.is_qat)
    assert second is not first and second.code == fresh.code
    assert all("quantization_annotation" not in n.meta and "planted" not in n.meta.get("nn_module_stack", {})
               for n in second.graph.nodes)
    assert [p.tolist() for p in second.parameters()] == [p.tolist() for p in fresh.parameters()]


def test_a_remembered_pattern_is_the_graph_a_fresh_export_gives():
    """torchao's QAT fusion patterns are exported once per process (models/pattern_exports.py)."""
    import torch
    import torch.nn.functional as F

    qat_utils = pt2e._source().module("qat_utils")

    remembered = qat_utils._get_aten_graph_module_for_pattern
    assert remembered.remembers_exports
    makers = (qat_utils._get_conv_bn_pattern, qat_utils._get_qat_conv_bn_pattern,
              qat_utils._get_qat_conv_bn_pattern_no_conv_bias)
    codes = set()
    for conv, x, w in ((F.conv1d, (1, 1, 3), (1, 1, 1)), (F.conv2d, (1, 1, 3, 3), (1, 1, 1, 1))):
        def inputs():
            return (torch.randn(x), torch.randn(w), *(torch.randn(1) for _ in range(5)))

        for make in makers:
            first, second = remembered(make(conv), inputs()), remembered(make(conv), inputs())
            fresh = remembered.original(make(conv), inputs())
            assert first is not second and first.graph is not second.graph
            assert first.code == second.code == fresh.code
            codes.add(first.code)
    assert len(codes) == 2 * len(makers)  # no two patterns confused


# -- generated annotations ----------------------------------------------------------------------


from hypothesis import example, given, settings  # noqa: E402

from conformance import fuzz, generate  # noqa: E402
from conformance.contract import ORACLE, REFERENCE  # noqa: E402
from models import graphs, hypothesis_graphs  # noqa: E402

# A chain of shared specs that comes back to itself: torch recurses until the stack runs out.
SHARED_CYCLE = {
    "graph": {"inputs": [[1, 4]], "nodes": [{"op": "F.relu", "args": [0]}], "outputs": {"form": "single", "values": [1]}},
    "config": {"path": "pt2e", "qat": False, "annotations": [
        {"node": 0, "inputs": [[0, {"kind": "shared", "to": {"node": 0}}]],
         "output": {"kind": "shared", "to": {"edge": [0, 0]}}, "implicit": True}]},
}
# A derived spec over an edge annotated by a later entry (built after it: a KeyError), QAT.
DERIVED_FROM_LATER = {
    "graph": {"inputs": [[2, 3]], "nodes": [
        {"op": "nn.Linear", "args": [0], "name": "nn_linear_0", "params": {"fin": 3, "fout": 2}},
        {"op": "F.relu", "args": [1]}], "outputs": {"form": "single", "values": [2]}},
    "config": {"path": "pt2e", "qat": True, "annotations": [
        {"node": 0, "inputs": [[0, {"kind": "derived", "from": [{"edge": [1, 0]}]}]], "output": None, "implicit": True},
        {"node": 1, "inputs": [[0, {"kind": "act-int8"}]], "output": {"kind": "act-uint8"}, "implicit": True}]},
}


@settings(settings.get_profile("ci"), max_examples=40)
@given(generate.pt2e_case_specs())
@example(SHARED_CYCLE)
@example(DERIVED_FROM_LATER)
def test_the_reference_places_generated_annotations_as_the_oracle_does(spec):
    assert fuzz.differential(spec, REFERENCE, ORACLE) == []


def test_the_cycle_is_refused_alike_whatever_python_says_about_the_stack():
    plan = fuzz.oracle_golden(graphs.to_case(SHARED_CYCLE))
    assert plan[1] and "exception = RecursionError\nmessage = maximum recursion depth exceeded\n" in plan[0]


def test_a_generated_case_is_a_pt2e_case():
    case = graphs.to_case(SHARED_CYCLE)
    assert case.id == f"pt2e/hypothesis/{graphs.spec_digest(SHARED_CYCLE)}/annotations-static"
    assert case.path == "pt2e" and "generated" in case.tags
    with pytest.raises(graphs.SpecError, match="unknown spec kind 'sideways'"):
        graphs.to_case({**SHARED_CYCLE, "config": {**SHARED_CYCLE["config"], "annotations": [
            {"node": 0, "inputs": [[0, {"kind": "sideways"}]], "output": None}]}})


def test_the_specs_of_one_graph_share_one_export(monkeypatch):
    """Shrinking a generated case tries many annotations of one graph: it is exported once."""
    from models import recipe

    exported = []
    export = recipe.export_for_quantization
    monkeypatch.setattr(recipe, "export_for_quantization", lambda m, i: exported.append(1) or export(m, i))
    recipe._EXPORTS.clear()
    other = {**SHARED_CYCLE, "config": {**SHARED_CYCLE["config"], "annotations": [
        {"node": 0, "inputs": [[0, {"kind": "act-int8"}]], "output": None, "implicit": True}]}}
    first, second = graphs.to_case(SHARED_CYCLE), graphs.to_case(other)
    assert first.id != second.id and first.recipe.build is second.recipe.build
    assert first.materialise().model.code == second.materialise().model.code
    assert len(exported) == 1


def test_a_planted_pt2e_fault_is_found_shrunk_and_frozen_into_the_pt2e_family(tmp_path):
    planted = load("tests.planted:pt2e_without_implicit_sharing")
    report = fuzz.fuzz(planted, ORACLE, seed=3, examples=300, max_nodes=4, path="pt2e")  # about a minute
    assert report.divergence is not None, report.summary()
    spec = report.divergence.spec
    assert spec["config"]["path"] == "pt2e" and len(spec["config"]["annotations"]) <= 2  # shrunk
    assert len(spec["graph"]["nodes"]) <= 2
    assert report.divergence.differences == ["extra observer on relu -> relu_1 (arg 0) [HistogramObserver]"]
    pending = fuzz.write_pending(report.divergence, {"impl": planted.name, "seed": 2}, folder=tmp_path / "pending")
    store = GoldenStore(tmp_path / "golden")
    messages = []
    assert fuzz.accept_pending(tmp_path / "pending", tmp_path / "frozen", store, messages.append) == (1, 0)
    frozen = tmp_path / "frozen" / "pt2e" / pending.name
    case = hypothesis_graphs.load_case(frozen)[1]
    assert messages == [f"accepted {case.id}"] and case.id.startswith("pt2e/hypothesis/")
    assert run_case(case, ORACLE, store).status == CONFORM
    assert run_case(case, REFERENCE, store).status == CONFORM
    assert run_case(case, planted, store).status == DIFFER


def test_freezing_a_pt2e_sample_writes_into_the_pt2e_folder(tmp_path):
    assert fuzz.freeze_sample(3, 7, ORACLE, frozen=tmp_path, say=lambda _: None, negatives=1, path="pt2e") == 4
    files = sorted((tmp_path / "pt2e").glob("*.json"))
    assert len(files) == 4 and not list(tmp_path.glob("*.json"))
    assert sum(bool(json.loads(f.read_text()).get("rejects")) for f in files) == 1


def test_the_frozen_pt2e_sample_is_large():
    generated = [c for c in models.all_cases() if c.id.startswith("pt2e/hypothesis/")]
    assert len(generated) >= 300 and sum(REJECTS in c.tags for c in generated) >= 30
    assert len([c for c in models.all_cases() if c.path == "pt2e"]) >= 600


def test_the_no_annotation_invariant_holds_and_catches_an_observer_placed_regardless():
    from conformance import metamorphic

    checked, message, _ = metamorphic.run_invariants(REFERENCE, examples=15, path="pt2e",
                                                     which=metamorphic.PT2E_INVARIANTS)
    assert message is None and checked >= 10
    planted = load("tests.planted:pt2e_observes_graph_inputs")
    checked, message, spec = metamorphic.run_invariants(planted, examples=15, path="pt2e",
                                                        which=("no-annotation",), shrink=False)
    assert message.startswith("a quantizer that annotates nothing still placed observers: x0 -> ")


def test_cli_invariants_of_the_pt2e_path(capsys):
    assert main(["invariants", "--impl", "reference", "--path", "pt2e", "--examples", "5"]) == 0
    assert "generated cases checked against no-annotation: all hold" in capsys.readouterr().out
    assert main(["invariants", "--impl", "reference", "--path", "pt2e", "--only", "rename"]) == 2
    assert "unknown invariant(s) ['rename'] of the pt2e path" in capsys.readouterr().err
