"""Generated graphs as data: a graph spec (ops over values, with shapes) and a config
spec (qconfig mapping, backend, QAT, quantized inputs/outputs, standalone and custom
modules), both plain JSON, and the code that rebuilds a model and a case from them.

The Hypothesis strategies in `conformance/generate.py` draw these specs; the frozen
`hypothesis` family (`models/hypothesis_graphs.py`) reads them from disk. A spec is the
whole case: a shrunk counterexample is frozen by writing its spec down.

Values are numbered: the graph inputs first, then one value per node in order. A
value is a tensor (`["tensor", shape]`), a bool tensor (`["bool", shape]`) or a tuple
(`["tuple", [values]]`). Every op states the values it accepts and the value it makes,
so a spec can be checked before anything is built (`check_graph`).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import operator
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class SpecError(ValueError):
    """A graph or config spec that cannot be built; the message names the spec and the reason."""


# -- values ------------------------------------------------------------------------------------


def is_tensor(value) -> bool:
    return value[0] == "tensor"


def shape_of(value) -> tuple[int, ...]:
    return tuple(value[1])


def tensor(*shape: int) -> list:
    return ["tensor", list(shape)]


# -- ops ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One op of the vocabulary. `infer(values, params)` returns the value it makes, or
    None when it does not apply to these values; `run(owner, node, args)` calls it in
    forward; `module(params)` builds the submodule a call_module op calls."""

    name: str
    arity: int  # number of value arguments; -1: a list of at least two (cat)
    infer: Callable[[list, dict], list | None]
    run: Callable
    module: Callable[[dict], nn.Module] | None = None
    params: Callable[[list], list[dict]] | None = None  # the parameter choices for these inputs
    kinds: tuple[str, ...] = ("tensor",)  # the value kinds of the arguments, in order


OPS: dict[str, Op] = {}


def op(name, arity=1, kinds=("tensor",), module=None, params=None):
    def register(fn_pair):
        infer, run = fn_pair
        OPS[name] = Op(name, arity, infer, run, module, params, kinds)
        return fn_pair

    return register


def _same(values, params):
    return ["tensor", list(shape_of(values[0]))]


def _rank(*ranks):
    def infer(values, params):
        return _same(values, params) if len(shape_of(values[0])) in ranks else None

    return infer


def _call_module(owner, node, args):
    return getattr(owner, node["name"])(*args)


# Shape-preserving functionals and methods on any tensor. `known` ones have backend
# configs; the others (exp, abs, ...) no config knows.
_ELEMENTWISE: dict[str, Callable] = {
    "F.relu": lambda x: F.relu(x),
    "relu_method": lambda x: x.relu(),
    "torch.sigmoid": lambda x: torch.sigmoid(x),
    "torch.tanh": lambda x: torch.tanh(x),
    "F.hardtanh": lambda x: F.hardtanh(x),
    "F.hardsigmoid": lambda x: F.hardsigmoid(x),
    "F.hardswish": lambda x: F.hardswish(x),
    "F.relu6": lambda x: F.relu6(x),
    "F.leaky_relu": lambda x: F.leaky_relu(x, 0.1),
    "F.elu": lambda x: F.elu(x),
    "F.dropout": lambda x: F.dropout(x, 0.5, training=False),  # a bool keyword argument
    "torch.clamp": lambda x: torch.clamp(x, -1.0, 1.0),
    "clamp_method": lambda x: x.clamp(min=0.0),
    "contiguous": lambda x: x.contiguous(),
    "detach": lambda x: x.detach(),
    "add_scalar": lambda x: x + 1.5,
    "mul_scalar": lambda x: x * 2.0,
    "radd_scalar": lambda x: 0.5 + x,
    "torch.add_scalar": lambda x: torch.add(x, 1),
    "add_size": lambda x: x + x.size(-1),  # an int argument that comes from the graph
    "softmax_method": lambda x: x.softmax(dim=-1),
    "torch.exp": lambda x: torch.exp(x),
    "abs_method": lambda x: x.abs(),
    "torch.neg": lambda x: torch.neg(x),
    "torch.cumsum": lambda x: torch.cumsum(x, dim=-1),
    "F.gelu": lambda x: F.gelu(x),
}
for _name, _fn in _ELEMENTWISE.items():
    op(_name)((_same, lambda owner, node, args, _fn=_fn: _fn(*args)))

# Shape-preserving modules on any tensor.
_ELEMENTWISE_MODULES: dict[str, Callable[[], nn.Module]] = {
    "nn.ReLU": nn.ReLU,
    "nn.ReLU6": nn.ReLU6,
    "nn.Sigmoid": nn.Sigmoid,
    "nn.Tanh": nn.Tanh,
    "nn.Hardswish": nn.Hardswish,
    "nn.Hardsigmoid": nn.Hardsigmoid,
    "nn.LeakyReLU": lambda: nn.LeakyReLU(0.1),
    "nn.ELU": nn.ELU,
    "nn.Dropout": nn.Dropout,
    "nn.Identity": nn.Identity,
    "nn.Softmax": lambda: nn.Softmax(dim=-1),
    "nn.PReLU": nn.PReLU,
    "nn.SiLU": nn.SiLU,
}
for _name, _factory in _ELEMENTWISE_MODULES.items():
    op(_name, module=lambda p, _f=_factory: _f())((_same, _call_module))


def _channels(values) -> int:
    return shape_of(values[0])[1]


def _last(values) -> int:
    return shape_of(values[0])[-1]


# Modules on images (1, C, H, W).
op("nn.Conv2d", module=lambda p: nn.Conv2d(p["cin"], p["cout"], p["k"], padding=p["k"] // 2, bias=p.get("bias", True)),
   params=lambda v: [{"cin": _channels(v), "cout": c, "k": k} for c in (2, 3, 4) for k in (1, 3)])(
    (lambda v, p: tensor(1, p["cout"], *shape_of(v[0])[2:]) if len(shape_of(v[0])) == 4 and p["cin"] == _channels(v) else None,
     _call_module))
op("nn.ConvTranspose2d", module=lambda p: nn.ConvTranspose2d(p["cin"], p["cout"], 1),
   params=lambda v: [{"cin": _channels(v), "cout": c} for c in (2, 4)])(
    (lambda v, p: tensor(1, p["cout"], *shape_of(v[0])[2:]) if len(shape_of(v[0])) == 4 and p["cin"] == _channels(v) else None,
     _call_module))
op("nn.BatchNorm2d", module=lambda p: nn.BatchNorm2d(p["c"]), params=lambda v: [{"c": _channels(v)}])(
    (lambda v, p: _same(v, p) if len(shape_of(v[0])) == 4 and p["c"] == _channels(v) else None, _call_module))
op("nn.InstanceNorm2d", module=lambda p: nn.InstanceNorm2d(p["c"]), params=lambda v: [{"c": _channels(v)}])(
    (lambda v, p: _same(v, p) if len(shape_of(v[0])) == 4 and p["c"] == _channels(v) and shape_of(v[0])[2] > 1 else None,
     _call_module))
op("nn.GroupNorm", module=lambda p: nn.GroupNorm(1, p["c"]), params=lambda v: [{"c": _channels(v)}])(
    (lambda v, p: _same(v, p) if len(shape_of(v[0])) == 4 and p["c"] == _channels(v) else None, _call_module))


def _halve(values, params):
    s = shape_of(values[0])
    return tensor(1, s[1], s[2] // 2, s[3] // 2) if len(s) == 4 and s[2] >= 2 and s[2] % 2 == 0 else None


def _pool_to_one(values, params):
    s = shape_of(values[0])
    return tensor(1, s[1], 1, 1) if len(s) == 4 else None


op("nn.MaxPool2d", module=lambda p: nn.MaxPool2d(2))((_halve, _call_module))
op("nn.AvgPool2d", module=lambda p: nn.AvgPool2d(2))((_halve, _call_module))
op("nn.AdaptiveAvgPool2d", module=lambda p: nn.AdaptiveAvgPool2d(1))((_pool_to_one, _call_module))
op("F.max_pool2d")((_halve, lambda owner, node, args: F.max_pool2d(args[0], 2)))
op("F.adaptive_avg_pool2d")((_pool_to_one, lambda owner, node, args: F.adaptive_avg_pool2d(args[0], 1)))
op("F.interpolate")((
    lambda v, p: tensor(1, shape_of(v[0])[1], shape_of(v[0])[2] * 2, shape_of(v[0])[3] * 2)
    if len(shape_of(v[0])) == 4 and shape_of(v[0])[2] <= 2 else None,
    lambda owner, node, args: F.interpolate(args[0], scale_factor=2.0, mode="nearest")))
op("transpose_hw")((_rank(4), lambda owner, node, args: args[0].transpose(2, 3)))  # square images only
op("permute_hw")((_rank(4), lambda owner, node, args: args[0].permute(0, 1, 3, 2)))
op("F.conv2d", params=lambda v: [{"cin": _channels(v), "cout": c} for c in (2, 4)])(
    (lambda v, p: tensor(1, p["cout"], *shape_of(v[0])[2:]) if len(shape_of(v[0])) == 4 and p["cin"] == _channels(v) else None,
     lambda owner, node, args: F.conv2d(args[0], getattr(owner, node["name"] + "_weight"), getattr(owner, node["name"] + "_bias"))))

# Modules and functionals on the last dimension (vectors (1, F) and sequences (T, 1, F)).
op("nn.Linear", module=lambda p: nn.Linear(p["fin"], p["fout"]),
   params=lambda v: [{"fin": _last(v), "fout": f} for f in (2, 3, 4, 6)])(
    (lambda v, p: tensor(*shape_of(v[0])[:-1], p["fout"]) if len(shape_of(v[0])) in (2, 3) and p["fin"] == _last(v) else None,
     _call_module))
op("F.linear", params=lambda v: [{"fin": _last(v), "fout": f} for f in (2, 4)])(
    (lambda v, p: tensor(*shape_of(v[0])[:-1], p["fout"]) if len(shape_of(v[0])) in (2, 3) and p["fin"] == _last(v) else None,
     lambda owner, node, args: F.linear(args[0], getattr(owner, node["name"] + "_weight"), getattr(owner, node["name"] + "_bias"))))
op("nn.BatchNorm1d", module=lambda p: nn.BatchNorm1d(p["c"]), params=lambda v: [{"c": _last(v)}])(
    (lambda v, p: _same(v, p) if len(shape_of(v[0])) == 2 and p["c"] == _last(v) else None, _call_module))
op("nn.LayerNorm", module=lambda p: nn.LayerNorm(p["f"]), params=lambda v: [{"f": _last(v)}])(
    (lambda v, p: _same(v, p) if p["f"] == _last(v) else None, _call_module))
op("nn.LSTM", module=lambda p: nn.LSTM(p["fin"], p["hidden"], num_layers=p["layers"]),
   params=lambda v: [{"fin": _last(v), "hidden": h, "layers": n} for h in (2, 3) for n in (1, 2)])(
    (lambda v, p: ["tuple", [tensor(shape_of(v[0])[0], 1, p["hidden"]),
                             ["tuple", [tensor(p["layers"], 1, p["hidden"])] * 2]]]
     if len(shape_of(v[0])) == 3 and p["fin"] == _last(v) else None,
     _call_module))

# Shape changers.
op("torch.flatten")((lambda v, p: tensor(1, _numel(v[0])) if len(shape_of(v[0])) == 4 else None,
                     lambda owner, node, args: torch.flatten(args[0], 1)))
op("view_flat")((lambda v, p: tensor(shape_of(v[0])[0], _numel(v[0]) // shape_of(v[0])[0]) if len(shape_of(v[0])) >= 3 else None,
                 lambda owner, node, args: args[0].view(args[0].size(0), -1)))
op("reshape_flat")((lambda v, p: tensor(1, _numel(v[0])) if len(shape_of(v[0])) >= 3 else None,
                    lambda owner, node, args: args[0].reshape(1, -1)))
op("mean_hw")((lambda v, p: tensor(1, _channels(v)) if len(shape_of(v[0])) == 4 else None,
               lambda owner, node, args: args[0].mean([2, 3])))
op("mean_hw_keepdim")((lambda v, p: tensor(1, _channels(v), 1, 1) if len(shape_of(v[0])) == 4 else None,
                       lambda owner, node, args: args[0].mean([2, 3], keepdim=True)))
op("unsqueeze_seq")((lambda v, p: tensor(1, *shape_of(v[0])) if len(shape_of(v[0])) == 2 else None,
                     lambda owner, node, args: args[0].unsqueeze(0)))
op("torch.chunk")((lambda v, p: ["tuple", [tensor(*_half_dim1(v[0]))] * 2] if len(shape_of(v[0])) in (2, 4) and shape_of(v[0])[1] % 2 == 0 else None,
                   lambda owner, node, args: torch.chunk(args[0], 2, dim=1)))


def _numel(value) -> int:
    n = 1
    for d in shape_of(value):
        n *= d
    return n


def _half_dim1(value):
    s = list(shape_of(value))
    s[1] //= 2
    return s


# Tuples and bool tensors.
op("getitem", kinds=("tuple",), params=lambda v: [{"index": i} for i in range(len(v[0][1]))])(
    (lambda v, p: v[0][1][p["index"]] if v[0][0] == "tuple" and p["index"] < len(v[0][1]) else None,
     lambda owner, node, args: args[0][node["params"]["index"]]))
op("gt_zero")((lambda v, p: ["bool", list(shape_of(v[0]))], lambda owner, node, args: args[0] > 0))
op("masked_fill", arity=2, kinds=("tensor", "bool"))(
    (lambda v, p: _same(v, p) if shape_of(v[0]) == shape_of(v[1]) else None,
     lambda owner, node, args: args[0].masked_fill(args[1], 0.0)))
op("torch.where", arity=3, kinds=("bool", "tensor", "tensor"))(
    (lambda v, p: ["tensor", list(shape_of(v[1]))] if shape_of(v[0]) == shape_of(v[1]) == shape_of(v[2]) else None,
     lambda owner, node, args: torch.where(*args)))

# Two tensors of one shape.
_BINARY: dict[str, Callable] = {
    "operator.add": operator.add,
    "operator.mul": operator.mul,
    "operator.sub": operator.sub,
    "torch.add": torch.add,
    "torch.mul": torch.mul,
}
for _name, _fn in _BINARY.items():
    op(_name, arity=2, kinds=("tensor", "tensor"))(
        (lambda v, p: _same(v, p) if shape_of(v[0]) == shape_of(v[1]) else None,
         lambda owner, node, args, _fn=_fn: _fn(*args)))


def _cat_infer(values, params):
    shapes = [shape_of(v) for v in values]
    if len(shapes) < 2 or any(len(s) != len(shapes[0]) for s in shapes) or len(shapes[0]) < 2:
        return None
    dim = params.get("dim")
    if dim not in range(1, len(shapes[0])) or any(s[:dim] + s[dim + 1:] != shapes[0][:dim] + shapes[0][dim + 1:] for s in shapes):
        return None
    out = list(shapes[0])
    out[dim] = sum(s[dim] for s in shapes)
    return ["tensor", out]


op("torch.cat", arity=-1, kinds=("tensor",))(
    (_cat_infer, lambda owner, node, args: torch.cat(list(args), dim=node["params"]["dim"])))

# A standalone module: a nested graph spec with one input, called as one module.
op("standalone", params=lambda v: [])(
    (lambda v, p: _standalone_infer(v, p), _call_module))


def _standalone_infer(values, params):
    inner = params.get("graph")
    if inner is None or [shape_of(values[0])] != [tuple(s) for s in inner["inputs"]]:
        return None
    out_values = check_graph(inner)
    outs = inner["outputs"]["values"]
    if len(outs) != 1 or inner["outputs"]["form"] != "single":
        return None
    return out_values[outs[0]]


FUNCTIONAL_WITH_WEIGHTS = ("F.conv2d", "F.linear")


# -- checking a spec -----------------------------------------------------------------------------


def check_graph(graph: dict) -> list:
    """Every value of the graph (inputs, then one per node), or SpecError saying what is wrong."""
    try:
        values = [tensor(*shape) for shape in graph["inputs"]]
        for i, node in enumerate(graph["nodes"]):
            spec_op = OPS.get(node["op"])
            if spec_op is None:
                raise SpecError(f"node {i}: unknown op {node['op']!r}")
            args = node["args"]
            if any(not (0 <= a < len(values)) for a in args):
                raise SpecError(f"node {i} ({node['op']}): argument out of range {args}")
            arg_values = [values[a] for a in args]
            kinds = spec_op.kinds * len(args) if spec_op.arity == -1 else spec_op.kinds
            if (spec_op.arity != -1 and len(args) != spec_op.arity) or [v[0] for v in arg_values] != list(kinds):
                raise SpecError(f"node {i} ({node['op']}): takes {list(kinds)}, got {[v[0] for v in arg_values]}")
            out = spec_op.infer(arg_values, node.get("params", {}))
            if out is None:
                raise SpecError(f"node {i} ({node['op']}): does not apply to {arg_values} with {node.get('params', {})}")
            values.append(out)
        outputs = graph["outputs"]
        if outputs["form"] not in ("single", "tuple", "dict") or not outputs["values"]:
            raise SpecError(f"bad outputs {outputs}")
        if outputs["form"] == "single" and len(outputs["values"]) != 1:
            raise SpecError("a single output names one value")
        for v in outputs["values"]:
            if not (0 <= v < len(values)) or not is_tensor(values[v]):
                raise SpecError(f"output {v} is not a tensor value")
    except (KeyError, TypeError, IndexError) as exc:
        raise SpecError(f"malformed graph spec: {type(exc).__name__}: {exc}") from None
    return values


# -- building the model --------------------------------------------------------------------------


class GeneratedGraph(nn.Module):
    """A model that runs a graph spec. Tracing runs `forward`, so FX records the ops the
    spec lists, one after the other. While traced, it notes which graph nodes each spec
    node made (`traced_nodes`): the metamorphic checks map node names with it."""

    def __init__(self, graph: dict):
        super().__init__()
        self.graph_spec = graph
        self.traced_nodes: dict[int, list[str]] = {}
        for node in graph["nodes"]:
            spec_op = OPS[node["op"]]
            params = node.get("params", {})
            if node["op"] == "standalone":
                self.add_module(node["name"], build_standalone(params["graph"], params.get("by") == "class"))
            elif spec_op.module is not None:
                self.add_module(node["name"], spec_op.module(params))
            elif node["op"] in FUNCTIONAL_WITH_WEIGHTS:
                shape = (params["cout"], params["cin"], 1, 1) if node["op"] == "F.conv2d" else (params["fout"], params["fin"])
                self.register_parameter(node["name"] + "_weight", nn.Parameter(torch.randn(shape)))
                self.register_parameter(node["name"] + "_bias", nn.Parameter(torch.randn(shape[0])))

    def run_spec(self, inputs):
        values = list(inputs)
        for i, node in enumerate(self.graph_spec["nodes"]):
            args = [values[a] for a in node["args"]]
            graph = _tracing_graph(args)
            before = len(graph.nodes) if graph is not None else 0
            values.append(OPS[node["op"]].run(self, node, args))
            if graph is not None:
                self.traced_nodes[i] = [n.name for n in list(graph.nodes)[before:]]
        outputs = self.graph_spec["outputs"]
        picked = [values[v] for v in outputs["values"]]
        if outputs["form"] == "single":
            return picked[0]
        if outputs["form"] == "tuple":
            return tuple(picked)
        return {f"out{i}": v for i, v in enumerate(picked)}


def _tracing_graph(args):
    for a in args:
        if isinstance(a, torch.fx.Proxy):
            return a.tracer.graph
        if isinstance(a, tuple):
            found = _tracing_graph(list(a))
            if found is not None:
                return found
    return None


class Graph1(GeneratedGraph):
    def forward(self, x0):
        return self.run_spec([x0])


class Graph2(GeneratedGraph):
    def forward(self, x0, x1):
        return self.run_spec([x0, x1])


class Graph3(GeneratedGraph):
    def forward(self, x0, x1, x2):
        return self.run_spec([x0, x1, x2])


class StandaloneGraph(GeneratedGraph):
    """The class a standalone module is named by when the config names it by class."""

    def forward(self, x0):
        return self.run_spec([x0])


class NamedStandaloneGraph(GeneratedGraph):
    """A standalone module named by its attribute name (not by class)."""

    def forward(self, x0):
        return self.run_spec([x0])


GRAPH_CLASSES = {1: Graph1, 2: Graph2, 3: Graph3}
MAX_INPUTS = len(GRAPH_CLASSES)


def build_standalone(graph: dict, by_class: bool) -> GeneratedGraph:
    return (StandaloneGraph if by_class else NamedStandaloneGraph)(graph)


def build_model(graph: dict) -> GeneratedGraph:
    check_graph(graph)
    n = len(graph["inputs"])
    if n not in GRAPH_CLASSES:
        raise SpecError(f"a graph takes 1 to {MAX_INPUTS} inputs, not {n}")
    return GRAPH_CLASSES[n](graph)


def example_inputs(graph: dict) -> tuple:
    return tuple(torch.randn(*shape) for shape in graph["inputs"])


# -- the config spec ---------------------------------------------------------------------------

BACKENDS = ("x86", "fbgemm", "qnnpack", "onednn", "native", "executorch", "tensorrt", "none")


def default_backend_name(backend: str) -> str:
    """The name torch's get_default_qconfig(_mapping) knows for a backend: native takes
    fbgemm's defaults, executorch qnnpack's, tensorrt and no backend config x86's."""
    return {"none": "x86", "native": "fbgemm", "executorch": "qnnpack", "tensorrt": "x86"}.get(backend, backend)


def qconfig(name: str | None, backend: str, is_qat: bool):
    """A qconfig by its name in config specs (None: no quantization)."""
    import torch.ao.quantization as tq

    b = default_backend_name(backend)
    table = {
        "default": lambda: tq.get_default_qat_qconfig(b) if is_qat else tq.get_default_qconfig(b),
        "default_ptq": lambda: tq.get_default_qconfig(b),
        "default_qat": lambda: tq.get_default_qat_qconfig(b),
        "per_tensor": lambda: tq.default_qconfig,
        "per_channel": lambda: tq.default_per_channel_qconfig,
        "qat_per_tensor": lambda: tq.default_qat_qconfig,
        "dynamic": lambda: tq.default_dynamic_qconfig,
        "fp16": lambda: tq.float16_static_qconfig,
        "fp16_dynamic": lambda: tq.float16_dynamic_qconfig,
        "weight_only": lambda: tq.float_qparams_weight_only_qconfig,
        "symmetric": lambda: tq.default_symmetric_qnnpack_qconfig,
        "symmetric_qat": lambda: tq.default_symmetric_qnnpack_qat_qconfig,
        "reuse_input": lambda: tq.default_reuse_input_qconfig,
    }
    if name is None:
        return None
    if name not in table:
        raise SpecError(f"unknown qconfig name {name!r} (known: {', '.join(sorted(table))})")
    return table[name]()


QCONFIG_NAMES = (
    "default", "default_ptq", "default_qat", "per_tensor", "per_channel", "qat_per_tensor", "dynamic", "fp16",
    "fp16_dynamic", "weight_only", "symmetric", "symmetric_qat", "reuse_input",
)


def object_type(name: str):
    """`torch.nn.Conv2d`, `torch.nn.functional.relu`, `operator.add` -> the object; a bare
    word (`relu`, `reshape`) is a method name, as QConfigMapping takes it."""
    if "." not in name:
        return name
    module, _, attr = name.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        raise SpecError(f"unknown object type {name!r}") from None


def qconfig_mapping(mapping: dict, backend: str, is_qat: bool):
    """The QConfigMapping a mapping spec describes: a base (`default`: the backend's
    default mapping; `empty`), then global, object_type, module_name, regex and
    module_name_object_type_order entries, in that order."""
    from torch.ao.quantization import QConfigMapping, get_default_qat_qconfig_mapping, get_default_qconfig_mapping

    b = default_backend_name(backend)
    base = mapping.get("base", "empty")
    if base == "default":
        result = get_default_qat_qconfig_mapping(b) if is_qat else get_default_qconfig_mapping(b)
    elif base == "empty":
        result = QConfigMapping()
    else:
        raise SpecError(f"unknown mapping base {base!r}")

    made: dict = {}

    def q(name):
        # one object per name: entries that name the same qconfig hold the same object, as
        # when a user reuses a variable (fusion compares qconfigs by equality, and two
        # get_default_qconfig() calls are not equal)
        if name not in made:
            made[name] = qconfig(name, backend, is_qat)
        return made[name]

    if "global" in mapping:
        result.set_global(q(mapping["global"]))
    for name, qc in mapping.get("object_type", []):
        result.set_object_type(object_type(name), q(qc))
    for name, qc in mapping.get("module_name", []):
        result.set_module_name(name, q(qc))
    for pattern, qc in mapping.get("regex", []):
        result.set_module_name_regex(pattern, q(qc))
    for module, name, index, qc in mapping.get("order", []):
        result.set_module_name_object_type_order(module, object_type(name), index, q(qc))
    if mapping.get("as_dict"):
        # the deprecated dict form of the same mapping
        return result.to_dict()
    return result


def backend_config(backend: str):
    if backend == "none":
        return None
    from .configs import backend_config as named

    if backend not in BACKENDS:
        raise SpecError(f"unknown backend {backend!r}")
    return named(backend)


def prepare_custom_config(config: dict, graph: dict):
    """Quantized input/output indexes, the custom LSTM and the standalone modules."""
    import torch.ao.nn.quantizable as nnqa
    from torch.ao.quantization.fx.custom_config import PrepareCustomConfig

    pcc = PrepareCustomConfig()
    if config.get("input_quantized"):
        pcc.set_input_quantized_indexes(list(config["input_quantized"]))
    if config.get("output_quantized"):
        pcc.set_output_quantized_indexes(list(config["output_quantized"]))
    if config.get("custom_lstm"):
        pcc.set_float_to_observed_mapping(nn.LSTM, nnqa.LSTM)
    backend, is_qat = config["backend"], config.get("qat", False)
    for node in graph["nodes"]:
        if node["op"] != "standalone":
            continue
        params = node["params"]
        inner = PrepareCustomConfig()
        if params.get("input_quantized"):
            inner.set_input_quantized_indexes([0])
        if params.get("output_quantized"):
            inner.set_output_quantized_indexes([0])
        own = params.get("mapping")
        # the dict form is the top-level prepare_fx's; a standalone module's mapping is a QConfigMapping
        mapping = qconfig_mapping({**own, "as_dict": False}, backend, is_qat) if own is not None else None
        own_backend = backend_config(params["backend"]) if "backend" in params else None
        inputs = example_inputs(params["graph"])
        if params.get("by") == "class":
            pcc.set_standalone_module_class(StandaloneGraph, mapping, inputs, inner, own_backend)
        else:
            pcc.set_standalone_module_name(node["name"], mapping, inputs, inner, own_backend)
    return pcc


PT2E = "pt2e"  # a config of prepare_pt2e's path: {"path": "pt2e", "qat": ..., "annotations": [...]}


def check_config(config: dict, graph: dict) -> None:
    """SpecError when the config spec is malformed or names what the graph lacks."""
    try:
        if config.get("path") == PT2E:
            from .pt2e_annotations import check_entries

            check_entries(config["annotations"])
            return
        if config["backend"] not in BACKENDS:
            raise SpecError(f"unknown backend {config['backend']!r}")
        n_in, n_out = len(graph["inputs"]), len(graph["outputs"]["values"])
        if any(not 0 <= i < n_in for i in config.get("input_quantized", [])):
            raise SpecError(f"input_quantized {config['input_quantized']} out of range for {n_in} inputs")
        if any(not 0 <= i < n_out for i in config.get("output_quantized", [])):
            raise SpecError(f"output_quantized {config['output_quantized']} out of range for {n_out} outputs")
        qconfig_mapping(config["mapping"], config["backend"], config.get("qat", False))
    except (KeyError, TypeError, ValueError) as exc:
        raise SpecError(f"malformed config spec: {type(exc).__name__}: {exc}") from None


# -- the case ---------------------------------------------------------------------------------


def canonical_json(data) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def spec_digest(spec: dict) -> str:
    """A short stable name for a spec (graph and config)."""
    return hashlib.sha256(canonical_json({"graph": spec["graph"], "config": spec["config"]}).encode()).hexdigest()[:12]


def preset_name(config: dict) -> str:
    kind = "annotations" if config.get("path") == PT2E else config["backend"]
    return f"{kind}-{'qat' if config.get('qat') else 'static'}"


def to_case(spec: dict, family: str = "hypothesis", name: str | None = None):
    """The corpus case for a spec: `family/<digest>/<backend>-<static|qat>`; a spec with
    `"rejects": true` is a negative case (the oracle refuses it, tag `rejects`). A spec
    of prepare_pt2e's path is `pt2e/hypothesis/<digest>/annotations-<static|qat>`, its
    annotations applied by its quantizer, whatever `family` says."""
    from .recipe import Case, ConfigPreset, Recipe

    graph = spec["graph"]
    check_graph(graph)  # the graph first: its errors say more than a missing config
    config = spec["config"]
    check_config(config, graph)
    rejects = spec.get("rejects", False)
    if not isinstance(rejects, bool):
        raise SpecError(f"rejects must be true or false, not {rejects!r}")
    is_qat = bool(config.get("qat", False))
    name = name or spec_digest(spec)
    if config.get("path") == PT2E:
        from .pt2e import _source
        from .pt2e_annotations import generated_quantizer

        def make_quantizer():
            _source()
            return generated_quantizer(config["annotations"], is_qat)

        family, name = PT2E, f"hypothesis/{name}"
        preset = ConfigPreset(preset_name(config), is_qat=is_qat, quantizer=make_quantizer,
                              tags=(PT2E, "qat" if is_qat else "ptq", "generated"))
    else:
        preset = ConfigPreset(
            preset_name(config),
            lambda: qconfig_mapping(config["mapping"], config["backend"], is_qat),
            lambda: backend_config(config["backend"]),
            is_qat=is_qat,
            tags=("qat" if is_qat else "static",),
        )
    build, inputs = _builders(graph)
    recipe = Recipe(
        family,
        name,
        build,
        inputs,
        tags=tuple(sorted(tags_of(graph))),
        prepare_custom_config=(None if config.get("path") == PT2E
                               else lambda _preset: prepare_custom_config(config, graph)),
        presets=(preset,),
        rejects=(preset.name,) if rejects else (),
    )
    negative = ("rejects",) if rejects else ()  # the oracle refuses it: a negative case
    return Case(recipe, preset, tags=tuple(dict.fromkeys(recipe.tags + preset.tags + negative)))


def _builders(graph: dict):
    """(build, example_inputs) of a graph: the same two functions for the same graph, so
    that the specs of one graph (Hypothesis shrinking a case's annotations, say) share its
    export (models.recipe keeps exports by these functions)."""
    key = json.dumps(graph, sort_keys=True)
    if key not in _BUILDERS:
        if len(_BUILDERS) >= 64:
            del _BUILDERS[next(iter(_BUILDERS))]
        own = json.loads(key)  # a copy of its own: what the key says is what gets built
        _BUILDERS[key] = (lambda: build_model(own), lambda: example_inputs(own))
    return _BUILDERS[key]


_BUILDERS: dict[str, tuple] = {}


def tags_of(graph: dict) -> set[str]:
    """The ops a graph exercises, as tags (`op:nn.Conv2d`), standalone graphs included."""
    tags = set()
    for node in graph["nodes"]:
        tags.add(f"op:{node['op']}")
        if node["op"] == "standalone":
            tags |= tags_of(node["params"]["graph"])
    return tags


def module_names(graph: dict) -> list[str]:
    return [n["name"] for n in graph["nodes"] if "name" in n]

