"""Hypothesis strategies for generated cases: a graph spec and a config spec
(`models/graphs.py` says what they mean), drawn so that every graph builds, traces and
runs forward, and shrink towards few nodes, early ops and plain configs.

Profiles: `ci` (bounded, derandomised, no example database: the same examples on every
run and machine) and `deep` (long, random). `obsconf fuzz --profile` and the tests
load them by name.
"""

from __future__ import annotations

import copy
import re

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from models import graphs
from models.graphs import OPS, shape_of, tensor

_QUIET = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large, HealthCheck.large_base_example]
settings.register_profile("ci", max_examples=60, derandomize=True, database=None, deadline=None,
                          suppress_health_check=_QUIET, print_blob=False)
settings.register_profile("deep", max_examples=10_000, derandomize=False, database=None, deadline=None,
                          suppress_health_check=_QUIET, print_blob=True)
PROFILES = ("ci", "deep")

# Ops that apply to one tensor, in the order shrinking prefers (simple first).
UNARY_OPS = tuple(
    name for name, o in OPS.items() if o.arity == 1 and o.kinds == ("tensor",) and name not in ("standalone", "nn.LSTM")
)
BINARY_OPS = ("operator.add", "operator.mul", "operator.sub", "torch.add", "torch.mul")

# Chains that fusion turns into one module (conv-bn-relu and friends).
CHAINS = (
    ("nn.Conv2d", "nn.ReLU"),
    ("nn.Conv2d", "nn.BatchNorm2d"),
    ("nn.Conv2d", "nn.BatchNorm2d", "nn.ReLU"),
    ("nn.Conv2d", "F.relu"),
    ("nn.Conv2d", "nn.BatchNorm2d", "F.relu"),
    ("nn.Linear", "nn.ReLU"),
    ("nn.Linear", "F.relu"),
    ("nn.Linear", "nn.BatchNorm1d"),
    ("nn.BatchNorm2d", "nn.ReLU"),
    ("nn.ConvTranspose2d", "nn.BatchNorm2d"),
)

# The object type a config names for an op (QConfigMapping.set_object_type keys).
OBJECT_TYPES = {
    **{name: "torch.nn." + name[3:] for name in OPS if name.startswith("nn.")},
    **{name: "torch.nn.functional." + name[2:] for name in OPS if name.startswith("F.")},
    **{name: name for name in OPS if name.startswith(("torch.", "operator."))},
    "relu_method": "relu", "clamp_method": "clamp", "contiguous": "contiguous", "detach": "detach",
    "add_scalar": "operator.add", "mul_scalar": "operator.mul", "radd_scalar": "operator.add",
    "torch.add_scalar": "torch.add", "add_size": "operator.add", "view_flat": "view", "reshape_flat": "reshape",
    "mean_hw": "mean", "mean_hw_keepdim": "mean", "transpose_hw": "transpose", "permute_hw": "permute",
    "unsqueeze_seq": "unsqueeze", "softmax_method": "softmax", "abs_method": "abs", "masked_fill": "masked_fill",
    "getitem": "operator.getitem", "gt_zero": "operator.gt",
}
FUSED_TYPES = (
    "torch.ao.nn.intrinsic.ConvReLU2d", "torch.ao.nn.intrinsic.ConvBn2d", "torch.ao.nn.intrinsic.ConvBnReLU2d",
    "torch.ao.nn.intrinsic.LinearReLU",
)
# Functions the module_name_object_type_order entries count (call_function targets).
ORDERED_TYPES = ("operator.add", "operator.mul", "torch.cat", "torch.nn.functional.relu", "torch.add", "torch.sigmoid")

QAT_QCONFIGS = ("default", "default_qat", "qat_per_tensor", "symmetric_qat", None)
PTQ_QCONFIGS = ("default", "per_tensor", "per_channel", "dynamic", "fp16", "fp16_dynamic", "weight_only", "symmetric",
                "reuse_input", None)


def module_name_for(op_name: str, index: int) -> str:
    """`nn.Conv2d`, node 3 -> `nn_conv2d_3`: the kind word, then the node index."""
    return re.sub(r"\W", "_", op_name.lower()) + f"_{index}"


def kind_of(name: str) -> str:
    """`nn_conv2d_3` -> `nn_conv2d_` (what a regex entry for every module of a kind says)."""
    return re.sub(r"\d+$", "", name)


# -- graphs ---------------------------------------------------------------------------------------


def input_shapes():
    image = st.builds(lambda c, h: [1, c, h, h], st.integers(1, 4), st.sampled_from([2, 4, 1]))
    vector = st.builds(lambda f: [1, f], st.integers(2, 6))
    sequence = st.builds(lambda t, f: [t, 1, f], st.integers(1, 3), st.integers(2, 4))
    return st.one_of(image, vector, sequence)


class _Builder:
    """The graph being drawn: values with their types, nodes, names."""

    def __init__(self, inputs):
        self.inputs = inputs
        self.values = [tensor(*s) for s in inputs]
        self.nodes: list[dict] = []

    def tensors(self):
        return [i for i, v in enumerate(self.values) if v[0] == "tensor"]

    def add(self, op_name: str, args: list[int], params: dict | None = None) -> int | None:
        """Append a node if the op applies; its value index, or None."""
        spec_op = OPS[op_name]
        out = spec_op.infer([self.values[a] for a in args], params or {})
        if out is None:
            return None
        node = {"op": op_name, "args": args}
        if params:
            node["params"] = params
        if spec_op.module is not None or op_name in graphs.FUNCTIONAL_WITH_WEIGHTS or op_name == "standalone":
            node["name"] = module_name_for(op_name, len(self.nodes))
        self.nodes.append(node)
        self.values.append(out)
        return len(self.values) - 1


def _params(draw, op_name: str, value) -> dict | None:
    choose = OPS[op_name].params
    if choose is None:
        return None
    options = choose([value])
    return draw(st.sampled_from(options)) if options else None


def _draw_unary(draw, b: _Builder, at: int) -> None:
    candidates = [n for n in UNARY_OPS if OPS[n].infer([b.values[at]], (OPS[n].params([b.values[at]]) or [{}])[0]
                                                       if OPS[n].params else {}) is not None]
    name = draw(st.sampled_from(candidates))
    b.add(name, [at], _params(draw, name, b.values[at]))


def _draw_binary(draw, b: _Builder, at: int) -> None:
    same = [i for i in b.tensors() if shape_of(b.values[i]) == shape_of(b.values[at])]
    other = draw(st.sampled_from(same))
    b.add(draw(st.sampled_from(BINARY_OPS)), [at, other])


def _draw_cat(draw, b: _Builder, at: int) -> None:
    rank = len(shape_of(b.values[at]))
    dim = 1 if rank in (2, 4) else 2
    key = lambda s: s[:dim] + s[dim + 1:]  # noqa: E731
    fits = [i for i in b.tensors() if len(shape_of(b.values[i])) == rank
            and key(shape_of(b.values[i])) == key(shape_of(b.values[at]))]
    others = draw(st.lists(st.sampled_from(fits), min_size=1, max_size=2))
    b.add("torch.cat", [at, *others], {"dim": dim})


def _draw_chain(draw, b: _Builder, at: int) -> None:
    chain = draw(st.sampled_from(CHAINS))
    for op_name in chain:
        new = b.add(op_name, [at], _params(draw, op_name, b.values[at]))
        if new is None:
            return
        at = new


def _draw_tuple_op(draw, b: _Builder, at: int) -> None:
    """chunk (or an LSTM on a sequence), then getitems on what it returns."""
    value = b.values[at]
    if len(shape_of(value)) == 3:
        made = b.add("nn.LSTM", [at], _params(draw, "nn.LSTM", value))
    else:
        made = b.add("torch.chunk", [at])
    if made is None:
        return _draw_unary(draw, b, at)
    pending = [made]
    while pending:
        tup = pending.pop()
        count = len(b.values[tup][1])
        for index in draw(st.lists(st.integers(0, count - 1), min_size=1, max_size=count, unique=True)):
            part = b.add("getitem", [tup], {"index": index})
            if b.values[part][0] == "tuple":
                pending.append(part)


def _draw_mask(draw, b: _Builder, at: int) -> None:
    mask = b.add("gt_zero", [draw(st.sampled_from(
        [i for i in b.tensors() if shape_of(b.values[i]) == shape_of(b.values[at])]))])
    if draw(st.booleans()):
        b.add("masked_fill", [at, mask])
    else:
        b.add("torch.where", [mask, at, at])


def _draw_standalone(draw, b: _Builder, at: int) -> None:
    # one standalone class per graph: the config names the class once
    by_class_taken = any(n.get("params", {}).get("by") == "class" for n in b.nodes if n["op"] == "standalone")
    inner = draw(graph_specs(max_nodes=4, inputs=[list(shape_of(b.values[at]))], single_output=True, nested=False))
    params = {"graph": inner, "by": "class" if (not by_class_taken and draw(st.booleans())) else "name"}
    # rare features are drawn as the largest value, so shrinking turns them off
    if draw(st.integers(0, 3)) == 3:
        params["input_quantized"] = True
    if draw(st.integers(0, 3)) == 3:
        params["output_quantized"] = True
    b.add("standalone", [at], params)


# What one step of a graph adds; repeats weight the draw (shrinking prefers the first).
_DRAWERS = {"unary": _draw_unary, "chain": _draw_chain, "binary": _draw_binary, "cat": _draw_cat,
            "tuple": _draw_tuple_op, "mask": _draw_mask, "standalone": _draw_standalone}
STEPS = ("unary",) * 4 + ("chain",) * 3 + ("binary",) * 2 + ("cat", "tuple", "mask", "standalone")


@st.composite
def graph_specs(draw, max_nodes: int = 12, inputs=None, single_output: bool = False, nested: bool = True):
    """A graph spec: 1-3 inputs, up to about `max_nodes` nodes, outputs as one value, a tuple or a dict."""
    if inputs is None:
        inputs = draw(st.lists(input_shapes(), min_size=1, max_size=graphs.MAX_INPUTS))
    b = _Builder(inputs)
    steps = draw(st.integers(1, max(1, max_nodes // 2)))
    for _ in range(steps):
        if len(b.nodes) >= max_nodes:
            break
        tensors = b.tensors()
        # recent values are likelier, so graphs grow deep as well as wide
        at = tensors[-1 - draw(st.integers(0, len(tensors) - 1))]
        step = draw(st.sampled_from(STEPS if nested else [s for s in STEPS if s != "standalone"]))
        _DRAWERS[step](draw, b, at)
    if not b.nodes:  # every step was refused (a chain that does not fit): one op on the input
        b.add("F.relu", [0])
    tensors = b.tensors()
    last = tensors[-1]
    if single_output:
        outputs = {"form": "single", "values": [last]}
    else:
        extra = draw(st.lists(st.sampled_from(tensors), max_size=2, unique=True))
        values = [last] + [v for v in extra if v != last]
        form = draw(st.sampled_from(["single", "tuple", "dict"])) if len(values) == 1 else draw(
            st.sampled_from(["tuple", "dict"]))
        outputs = {"form": form, "values": values}
    graph = {"inputs": inputs, "nodes": b.nodes, "outputs": outputs}
    graphs.check_graph(graph)
    return graph


# -- configs --------------------------------------------------------------------------------------


def _object_types(graph: dict) -> list[str]:
    found = [OBJECT_TYPES[n["op"]] for n in graph["nodes"] if n["op"] in OBJECT_TYPES]
    return sorted(set(found))


@st.composite
def mapping_specs(draw, graph: dict, qat: bool, names: list[str]):
    qconfigs = st.sampled_from(QAT_QCONFIGS if qat else PTQ_QCONFIGS)
    mapping: dict = {"base": draw(st.sampled_from(["default", "empty"]))}
    if mapping["base"] == "empty" or draw(st.booleans()):
        mapping["global"] = draw(qconfigs)
    types = _object_types(graph) + list(FUSED_TYPES)
    object_type = draw(st.lists(st.tuples(st.sampled_from(types), qconfigs), max_size=3, unique_by=lambda e: e[0]))
    if object_type:
        mapping["object_type"] = [list(e) for e in object_type]
    if names:
        module_name = draw(st.lists(st.tuples(st.sampled_from(names), qconfigs), max_size=2, unique_by=lambda e: e[0]))
        if module_name:
            mapping["module_name"] = [list(e) for e in module_name]
        prefixes = sorted({kind_of(n) for n in names} | set(names))
        regex = draw(st.lists(st.tuples(st.sampled_from(prefixes), qconfigs), max_size=2, unique_by=lambda e: e[0]))
        if regex:
            mapping["regex"] = [list(e) for e in regex]
    ordered = [t for t in ORDERED_TYPES if t in _object_types(graph)]
    if ordered:
        order = draw(st.lists(st.tuples(st.sampled_from(ordered), st.integers(0, 2), qconfigs), max_size=2,
                              unique_by=lambda e: e[:2]))
        if order:
            mapping["order"] = [["", t, i, q] for t, i, q in order]
    if draw(st.integers(0, 7)) == 7:
        mapping["as_dict"] = True
    return mapping


@st.composite
def config_specs(draw, graph: dict):
    qat = draw(st.booleans())
    config: dict = {"backend": draw(st.sampled_from(graphs.BACKENDS)), "qat": qat}
    names = [n["name"] for n in graph["nodes"] if n["op"] != "standalone" and "name" in n]
    config["mapping"] = draw(mapping_specs(graph, qat, names))
    n_in, n_out = len(graph["inputs"]), len(graph["outputs"]["values"])
    if draw(st.integers(0, 4)) == 4:
        config["input_quantized"] = draw(st.lists(st.integers(0, n_in - 1), min_size=1, unique=True).map(sorted))
    if draw(st.integers(0, 4)) == 4:
        config["output_quantized"] = draw(st.lists(st.integers(0, n_out - 1), min_size=1, unique=True).map(sorted))
    if any(n["op"] == "nn.LSTM" for n in graph["nodes"]) and draw(st.integers(0, 3)) > 0:
        config["custom_lstm"] = True
    for node in graph["nodes"]:
        if node["op"] == "standalone" and draw(st.integers(0, 2)) == 2:
            # its own qconfig mapping (and sometimes its own backend)
            node["params"]["mapping"] = draw(mapping_specs(node["params"]["graph"], qat, []))
            if draw(st.booleans()):
                node["params"]["backend"] = draw(st.sampled_from(graphs.BACKENDS[:-1]))
    return config


@st.composite
def case_specs(draw, max_nodes: int = 12):
    """A whole generated case: {"graph": ..., "config": ...}."""
    graph = copy.deepcopy(draw(graph_specs(max_nodes=max_nodes)))
    config = draw(config_specs(graph))  # may give standalone modules their own configs
    return {"graph": graph, "config": config}


# -- prepare_pt2e's path: annotations as data ----------------------------------------------------

from models.pt2e_annotations import SPEC_KINDS  # noqa: E402


@st.composite
def _reference(draw, entries: int, node: bool = True):
    """An edge (entry, input) or, when `node`, a node (entry) of the drawn entries."""
    if node and draw(st.booleans()):
        return {"node": draw(st.integers(0, entries - 1))}
    return {"edge": [draw(st.integers(0, entries - 1)), draw(st.integers(0, 2))]}


@st.composite
def _qspec(draw, entries: int):
    kind = draw(st.sampled_from(SPEC_KINDS))  # shrinks to a plain int8 activation
    if kind == "shared":
        return {"kind": kind, "to": draw(_reference(entries))}
    if kind == "derived":
        return {"kind": kind, "from": draw(st.lists(_reference(entries, node=False), min_size=1, max_size=2))}
    return {"kind": kind}


@st.composite
def annotation_entries(draw):
    """1 to 6 annotation entries (models/pt2e_annotations.apply_entries says what they mean)."""
    count = draw(st.integers(1, 6))
    entries = []
    for _ in range(count):
        inputs = draw(st.lists(st.tuples(st.integers(0, 2), _qspec(count)).map(list), max_size=3))
        output = draw(st.one_of(_qspec(count), st.none()))
        entries.append({"node": draw(st.integers(0, 15)), "inputs": inputs, "output": output,
                        "implicit": not draw(st.integers(0, 3)) == 3})  # shrinks to sharing implicitly
    return entries


@st.composite
def pt2e_case_specs(draw, max_nodes: int = 8):
    """A generated case of prepare_pt2e's path: a graph (no standalone modules: export
    inlines them) and annotations; {"graph": ..., "config": {"path": "pt2e", ...}}."""
    graph = copy.deepcopy(draw(graph_specs(max_nodes=max_nodes, nested=False)))
    config = {"path": graphs.PT2E, "qat": draw(st.booleans()), "annotations": draw(annotation_entries())}
    return {"graph": graph, "config": config}


def specs_for(path: str, max_nodes: int):
    """The strategy of generated cases of prepare's `path` ("fx" or "pt2e")."""
    return pt2e_case_specs(max_nodes=max_nodes) if path == graphs.PT2E else case_specs(max_nodes=max_nodes)
