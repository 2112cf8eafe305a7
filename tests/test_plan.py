"""The canonicaliser and the differ on hand-built observed graphs."""

import copy

import pytest
import torch
from torch import nn
from torch.ao.quantization.observer import MinMaxObserver
from torch.fx import Graph, GraphModule

from conformance import diff
from conformance.canonical import canonicalise
from conformance.plan import Edge, PlanFormatError, parse_text


def observed_linear_add(names=("obs_x", "obs_lin", "obs_out"), share_out_with_lin=False, dtype=torch.quint8):
    """x -[obs_x]-> linear -[obs_lin]-> add(lin, x) -[obs_out]-> output; observer names and
    creation order come from `names`, so tests can rename and renumber them."""
    root = nn.Module()
    root.linear = nn.Linear(4, 4)
    obs = {}
    for name in names:  # creation order follows `names`
        obs[name] = MinMaxObserver(dtype=dtype)
    if share_out_with_lin:
        obs[names[2]] = obs[names[1]]
    for name, module in obs.items():
        setattr(root, name, module)
    g = Graph()
    x = g.placeholder("x")
    ox = g.call_module(names[0], (x,))
    lin = g.call_module("linear", (ox,))
    ol = g.call_module(names[1], (lin,))
    add = g.call_function(torch.add, (ol, ox))
    oo = g.call_module(names[2], (add,))
    g.output(oo)
    return GraphModule(root, g)


def test_renaming_observers_leaves_plan_unchanged():
    a = canonicalise(observed_linear_add(("activation_post_process_0", "activation_post_process_1", "activation_post_process_2")))
    b = canonicalise(observed_linear_add(("zz_obs", "m_obs", "a_obs")))
    assert a.body_lines() == b.body_lines()


def test_renumbering_observers_leaves_plan_unchanged():
    a = canonicalise(observed_linear_add(("p0", "p1", "p2")))
    b = canonicalise(observed_linear_add(("p2", "p0", "p1")))
    assert a.body_lines() == b.body_lines()
    assert diff.compare(a, b) == []


def test_edges_and_observer_reuse_across_consumers():
    plan = canonicalise(observed_linear_add())
    edges = {str(e): chain for e, chain in plan.edges.items()}
    assert set(edges) == {"x -> linear (arg 0)", "linear -> add (arg 0)", "x -> add (arg 1)", "add -> output (arg 0)"}
    # one observer node on x serves two consumers: same id on both edges
    assert edges["x -> linear (arg 0)"] == edges["x -> add (arg 1)"]
    assert plan.sharing == []


def test_sharing_is_detected():
    plan = canonicalise(observed_linear_add(share_out_with_lin=True))
    ids = {str(e): chain[0] for e, chain in plan.edges.items()}
    assert plan.sharing == [tuple(sorted((ids["linear -> add (arg 0)"], ids["add -> output (arg 0)"])))]


def test_removed_observer_yields_exactly_that_difference():
    expected = canonicalise(observed_linear_add())
    gm = observed_linear_add()
    node = next(n for n in gm.graph.nodes if n.target == "obs_lin")
    node.replace_all_uses_with(node.args[0])
    gm.graph.erase_node(node)
    assert diff.compare(expected, canonicalise(gm)) == ["missing observer on linear -> add (arg 0) [MinMaxObserver]"]


def test_changed_dtype_yields_exactly_that_difference():
    expected = canonicalise(observed_linear_add())
    gm = observed_linear_add()
    gm.obs_out.dtype = torch.qint8
    assert diff.compare(expected, canonicalise(gm)) == ["observer on add -> output (arg 0): dtype quint8 != qint8"]


def test_split_sharing_yields_exactly_that_difference():
    expected = canonicalise(observed_linear_add(share_out_with_lin=True))
    actual = canonicalise(observed_linear_add(share_out_with_lin=False))
    assert diff.compare(expected, actual) == [
        "sharing differs: expected {add -> output (arg 0), linear -> add (arg 0)}, "
        "got {add -> output (arg 0)} + {linear -> add (arg 0)}"
    ]


def test_extra_observer_and_fanout_structure_are_reported():
    expected = canonicalise(observed_linear_add())
    gm = observed_linear_add()
    # give add its own observer on x instead of reusing the one linear uses
    gm.obs_x2 = MinMaxObserver()
    x = next(n for n in gm.graph.nodes if n.op == "placeholder")
    add = next(n for n in gm.graph.nodes if n.target is torch.add)
    with gm.graph.inserting_before(add):
        new = gm.graph.call_module("obs_x2", (x,))
    add.replace_input_with(add.args[1], new)
    assert diff.compare(expected, canonicalise(gm)) == [
        "observer nodes differ at x: expected x -> {add (arg 1), linear (arg 0)}, got x -> add (arg 1) + x -> linear (arg 0)"
    ]
    extra = copy.deepcopy(expected)
    extra.observers["obs99"] = extra.observers["obs0"]
    extra.edges[Edge("linear", "add", "arg 0")] += ("obs99",)
    assert diff.compare(expected, extra) == ["extra observer on linear -> add (arg 0) [MinMaxObserver]"]


def test_rewired_graph_is_reported():
    expected = canonicalise(observed_linear_add())
    gm = observed_linear_add()
    add = next(n for n in gm.graph.nodes if n.target is torch.add)
    add.target = torch.mul
    assert diff.compare(expected, canonicalise(gm)) == [
        "graph rewired: add: call_function torch.add(linear, x) != call_function torch.mul(linear, x)"
    ]


def test_inserted_nodes_get_structural_names():
    gm = observed_linear_add()
    plan = canonicalise(gm, original_names={"x", "linear", "output"})
    assert "+add[linear,x] = call_function torch.add(linear, x)" in plan.graph
    assert Edge("+add[linear,x]", "output", "arg 0") in plan.edges


def test_text_round_trip():
    plan = canonicalise(observed_linear_add(share_out_with_lin=True))
    text = plan.to_text({"case": "hand/built/x"})
    header, back = parse_text(text)
    assert header == {"case": "hand/built/x"}
    assert back.same_as(plan) and diff.compare(plan, back) == []
    assert back.to_text(header) == text


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda t: t.replace("    obs", "    obs9", 1), "edited by hand"),
        (lambda t: t.replace("schema = 2", "schema = 1"), "schema 1 but this obsconf reads schema 2"),
        (lambda t: "garbage\n" + t, "not an obsconf plan"),
        (lambda t: t[: len(t) // 2], "edited by hand or truncated"),
    ],
)
def test_corrupt_plan_text_is_one_clear_error(mutate, message):
    text = canonicalise(observed_linear_add()).to_text({"case": "c"})
    with pytest.raises(PlanFormatError) as info:
        parse_text(mutate(text), source="golden g.plan")
    assert message in str(info.value) and "golden g.plan" in str(info.value)
    assert "\n" not in str(info.value)


class OtherLinear(nn.Linear):
    pass


def test_module_swap_and_observers_inside_modules_are_reported():
    expected_gm = observed_linear_add()
    expected_gm.linear.weight_fake_quant = MinMaxObserver(dtype=torch.qint8)
    expected = canonicalise(expected_gm)
    assert expected.module_observers == {
        "linear.weight_fake_quant": "torch.ao.quantization.observer.MinMaxObserver(dtype=qint8, qscheme=per_tensor_affine, "
        "quant_min=-128, quant_max=127, reduce_range=False, is_dynamic=False, eps=1.1920928955078125e-07)"
    }
    gm = observed_linear_add()
    gm.linear = OtherLinear(4, 4)
    gm.linear.weight_fake_quant = MinMaxObserver(dtype=torch.quint8)
    assert diff.compare(expected, canonicalise(gm)) == [
        "module swap differs at linear: Linear != OtherLinear",
        "observer inside module linear.weight_fake_quant: dtype qint8 != quint8; quant_min -128 != 0; quant_max 127 != 255",
    ]


def test_an_unused_observer_with_other_attributes_says_which():
    """A dangling observer (its node has no user) of the same class but other attributes is
    one difference naming the attributes, not a missing and an extra observer."""
    from conformance.golden import GoldenStore

    _, expected = parse_text(GoldenStore().read_text("hypothesis/001df4b47b67/x86-static"))
    actual = copy.deepcopy(expected)
    actual.observers = {k: v.replace("scale=0.0078125", "scale=0.5") for k, v in actual.observers.items()}
    assert diff.compare(expected, actual) == ["unused observer on tanh: scale 0.0078125 != 0.5"]
    actual.dangling = [(p, c) for p, c in actual.dangling if p != "view_1"]
    assert "missing unused observer on view_1 [HistogramObserver]" in diff.compare(expected, actual)


@pytest.mark.parametrize("case_id", ["patterns/cat/x86-qat", "lstm/cat-with-lstm/x86-static",
                                     "standalone/by-class-quantized-io/x86-static", "torchvision/resnet18/x86-static"])
def test_the_golden_names_give_the_plan_a_trace_gives_or_none(case_id):
    """The runner canonicalises with the names a golden records instead of tracing the
    model again; where a node of the result bears none of them it must trace."""
    from conformance import runner
    from conformance.canonical import canonicalise_within
    from conformance.contract import load
    from conformance.golden import GoldenStore
    from models import all_cases

    case = next(c for c in all_cases() if c.id == case_id)
    golden = GoldenStore().load(case.id)
    result = runner.run_iut(case, load("torch"))
    given = case.preset.qconfig_mapping()
    traced = canonicalise(result, runner.original_node_names(case), given)
    within = canonicalise_within(result, golden.node_names(), given)
    assert within is None or within.same_as(traced)
    assert traced.same_as(golden)
    if case.recipe.family == "lstm":  # the DeQuantStubs prepare inserts bear no name of the golden
        assert within is None
    else:
        assert within is not None


def test_a_node_with_a_name_the_golden_lacks_makes_the_runner_trace():
    from conformance.canonical import canonicalise_within

    gm = observed_linear_add()
    names = {n.name for n in gm.graph.nodes}
    assert canonicalise_within(gm, names).same_as(canonicalise(gm, names))
    some = next(n.name for n in gm.graph.nodes if n.op == "call_function")
    assert canonicalise_within(gm, names - {some}) is None


def test_mapping_changes_keep_string_object_types_apart():
    """x86's default mapping keys seven entries by string ("sigmoid", "tanh_", ...): each is its
    own entry, so a change to one of them is reported under its own name."""
    from torch.ao.quantization import default_qconfig, get_default_qconfig_mapping

    from conformance import describe

    given = get_default_qconfig_mapping("x86")
    stored = copy.deepcopy(given).set_object_type("tanh_", default_qconfig)
    changes = describe.mapping_changes(given, stored)
    assert changes.startswith("as given; ~object_type 'tanh_' = QConfig(")
    assert changes.count("; ") == 1, changes
    digest = describe.qconfig_mapping_digest(given)
    assert "23 object types" in digest, digest
    assert digest != describe.qconfig_mapping_digest(stored)


def test_equal_plans_skip_the_walk_that_would_find_nothing_in_them():
    """compare answers equal plans by dataclass equality; the field-by-field walk it skips
    finds nothing in them either: every tenth bundled golden against a copy of itself,
    each family. A plan that differs in one observer still gets the walk's line."""
    from conformance.cli import select
    from conformance.golden import GoldenStore

    store, families = GoldenStore(), set()
    for case in select(None)[::10]:
        _, plan, error = store.load_or_error(case.id)
        assert error is None
        families.add(case.recipe.family)
        twin = copy.deepcopy(plan)
        assert plan == twin and diff.compare(plan, twin) == []
        if plan.rejection is None:
            assert diff.differences(plan, twin) == [], case.id
    assert {"patterns", "torchvision", "pt2e", "negative"} <= families
    expected = canonicalise(observed_linear_add())
    actual = canonicalise(observed_linear_add(dtype=torch.qint8))
    assert expected != actual
    assert diff.compare(expected, actual) == diff.differences(expected, actual) != []


def test_a_canonicalised_plan_has_its_lists_in_text_order():
    """The canonicaliser finds sharing groups and unused chains in graph order; it hands
    them over in the order the text (and so a parsed golden) has them, so a conforming
    plan equals its golden and takes compare's shortcut. (This case's sharing groups
    came out in another order.)"""
    from conformance import runner
    from conformance.cli import select
    from conformance.contract import load
    from conformance.golden import GoldenStore

    (case,) = [c for c in select(["rules/api-forms/"]) if c.id == "rules/api-forms/default-backend"]
    header, golden, _ = GoldenStore().load_or_error(case.id)
    assert len(golden.sharing) >= 2
    plan = runner.produce_plan(case, load("reference"), golden=golden, golden_torch=header.get("torch"))
    assert plan == golden
    shuffled = copy.deepcopy(plan)
    shuffled.sharing.reverse()
    shuffled.dangling = [("z", ("obs9",)), ("a", ("obs1",))]
    assert shuffled != plan and parse_text(shuffled.to_text({}))[1] == shuffled.in_text_order()
