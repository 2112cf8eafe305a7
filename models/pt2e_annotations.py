"""Hand-written annotations for the pt2e family: one small exported model and one
annotation function per quantization-spec kind and sharing shape, and the refusals of
prepare_pt2e. Each annotation function writes `node.meta["quantization_annotation"]`
as a Quantizer's annotate would; its docstring says what it annotates.

Every recipe runs under `annotation-static` and `annotation-qat`: the same annotations
with observers (PTQ) or fake-quantizes (QAT; fixed qparams then become
FixedQParamsFakeQuantize). A refusal is a negative case (tag `rejects`).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from .patterns import Cat  # two convs of one input, concatenated
from .recipe import ConfigPreset, Recipe

FAMILY = "pt2e"
aten = torch.ops.aten


# -- the specs ------------------------------------------------------------------------------


class Kit:
    """Spec constructors for one preset: observers under PTQ, fake-quantizes under QAT."""

    def __init__(self, is_qat: bool):
        from .pt2e_source import module

        q, FakeQuantize, o = module("quantizer"), module("fake_quantize").FakeQuantize, module("observer")
        HistogramObserver, MinMaxObserver, PerChannelMinMaxObserver = (
            o.HistogramObserver, o.MinMaxObserver, o.PerChannelMinMaxObserver)
        MovingAverageMinMaxObserver, PlaceholderObserver = o.MovingAverageMinMaxObserver, o.PlaceholderObserver

        self.q, self.is_qat = q, is_qat
        self.FakeQuantize, self.PlaceholderObserver = FakeQuantize, PlaceholderObserver
        self.act_observer = (FakeQuantize.with_args(observer=MovingAverageMinMaxObserver) if is_qat
                             else HistogramObserver)
        self.weight_observer = (FakeQuantize.with_args(observer=PerChannelMinMaxObserver) if is_qat
                                else PerChannelMinMaxObserver)
        self.tensor_weight_observer = FakeQuantize.with_args(observer=MinMaxObserver) if is_qat else MinMaxObserver

    def act(self, dtype=torch.int8):
        low, high = (-128, 127) if dtype == torch.int8 else (0, 255)
        return self.q.QuantizationSpec(dtype=dtype, quant_min=low, quant_max=high, qscheme=torch.per_tensor_affine,
                                       observer_or_fake_quant_ctr=self.act_observer)

    def weight(self):
        return self.q.QuantizationSpec(dtype=torch.int8, quant_min=-127, quant_max=127,
                                       qscheme=torch.per_channel_symmetric, ch_axis=0,
                                       observer_or_fake_quant_ctr=self.weight_observer)

    def tensor_weight(self):
        return self.q.QuantizationSpec(dtype=torch.int8, quant_min=-127, quant_max=127,
                                       qscheme=torch.per_tensor_symmetric,
                                       observer_or_fake_quant_ctr=self.tensor_weight_observer)

    def dynamic(self):
        return self.q.QuantizationSpec(dtype=torch.int8, quant_min=-128, quant_max=127, qscheme=torch.per_tensor_affine,
                                       is_dynamic=True, observer_or_fake_quant_ctr=self.PlaceholderObserver)

    def fixed(self):
        return self.q.FixedQParamsQuantizationSpec(dtype=torch.uint8, scale=1.0 / 256.0, zero_point=0, quant_min=0,
                                                   quant_max=255, qscheme=torch.per_tensor_affine)

    def shared(self, edge_or_node):
        return self.q.SharedQuantizationSpec(edge_or_node)

    def derived_bias(self, derived_from, qscheme=torch.per_tensor_symmetric, ch_axis=None):
        return self.q.DerivedQuantizationSpec(derived_from=derived_from, derive_qparams_fn=bias_qparams,
                                              dtype=torch.int32, quant_min=-(2**31), quant_max=2**31 - 1,
                                              qscheme=qscheme, ch_axis=ch_axis)

    def annotate(self, node, inputs=None, output=None, implicit_sharing=True):
        annotation = dict(input_qspec_map=dict(inputs or {}), output_qspec=output, _annotated=True)
        # torch 2.1's QuantizationAnnotation has no allow_implicit_sharing field: there the
        # default is said by leaving it out (turning it off cannot be said at all)
        if implicit_sharing is not True or _has_implicit_sharing(self.q.QuantizationAnnotation):
            annotation["allow_implicit_sharing"] = implicit_sharing
        node.meta["quantization_annotation"] = self.q.QuantizationAnnotation(**annotation)


@functools.cache
def _has_implicit_sharing(annotation_class) -> bool:
    import dataclasses

    return any(field.name == "allow_implicit_sharing" for field in dataclasses.fields(annotation_class))


def bias_qparams(obs_or_fqs):
    """A bias's qparams from its input's and weight's: scale = product of their scales."""
    act, weight = obs_or_fqs
    act_scale, _ = act.calculate_qparams()
    weight_scale, _ = weight.calculate_qparams()
    return act_scale * weight_scale, torch.zeros_like(act_scale, dtype=torch.int32)


def holds_tensor(node) -> bool:
    """Whether a node's value is a tensor: its recorded fake value says so, and a parameter's
    or buffer's get_attr is one whether or not the capture recorded it (torch 2.1's records
    none on get_attr nodes; the annotations must not move with that)."""
    return isinstance(node.meta.get("val"), torch.Tensor) or node.op == "get_attr"


def nodes(model, op) -> list:
    return [n for n in model.graph.nodes if n.op == "call_function" and n.target == op]


def first(model, op):
    found = nodes(model, op)
    if not found:
        raise LookupError(f"the exported graph has no {op}")
    return found[0]


# -- the models -------------------------------------------------------------------------------


class LinearModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x):
        return self.linear(x)


class ConvRelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return torch.relu(self.conv(x))


class TwoConvsAdd(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 1)
        self.conv2 = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return self.conv1(x) + self.conv2(x)


class AddChain(nn.Module):
    """Three adds in a row, each of the previous sum and a conv."""

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(3, 3, 1) for _ in range(4))

    def forward(self, x):
        y = self.convs[0](x)
        for conv in self.convs[1:]:
            y = y + conv(x)
        return y


class ConvSigmoid(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return torch.sigmoid(self.conv(x))


class TwoConsumers(nn.Module):
    """One conv output read by a relu and a hardtanh."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        y = self.conv(x)
        return torch.relu(y), F.hardtanh(y)


class MutableBuffer(nn.Module):
    """Adds its input to a running buffer (an in-place mutation export keeps)."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.register_buffer("total", torch.zeros(4))

    def forward(self, x):
        y = self.linear(x)
        self.total.add_(y.sum(0))
        return y + self.total


class SharedWeight(nn.Module):
    """One weight read by two linears."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 4))

    def forward(self, x):
        return F.linear(x, self.weight) + F.linear(torch.relu(x), self.weight)


class SplitModel(nn.Module):
    """A node whose output is a list of tensors (split), then its pieces."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        a, b = torch.split(self.conv(x), 2, dim=1)
        return a * b


def _image():
    return (torch.randn(1, 3, 8, 8),)


def _rows():
    return (torch.randn(2, 4),)


# -- the annotations ----------------------------------------------------------------------------


def input_only(model, kit):
    """The linear's input alone: no weight, bias or output spec."""
    linear = first(model, aten.linear.default)
    kit.annotate(linear, {linear.args[0]: kit.act()})


def output_only(model, kit):
    """The relu's output alone."""
    kit.annotate(first(model, aten.relu.default), output=kit.act())


def weight_input_output(model, kit):
    """A static linear: input, per-channel weight and output."""
    linear = first(model, aten.linear.default)
    kit.annotate(linear, {linear.args[0]: kit.act(), linear.args[1]: kit.weight()}, kit.act())


def conv_weights(model, kit):
    """Each conv's input, weight and output (the other ops' annotations read them)."""
    for conv in nodes(model, aten.conv2d.default):
        kit.annotate(conv, {conv.args[0]: kit.act(), conv.args[1]: kit.weight()}, kit.act())


def shared_edge(model, kit):
    """add's second input shares the observer of its first input edge; its output too."""
    conv_weights(model, kit)
    add = first(model, aten.add.Tensor)
    a, b = add.args[:2]
    kit.annotate(add, {a: kit.act(), b: kit.shared((a, add))}, kit.shared((a, add)))


def shared_node(model, kit):
    """cat's inputs and output share the first conv's output observer (a node)."""
    conv_weights(model, kit)
    cat = first(model, aten.cat.default)
    a, b = cat.args[0]
    kit.annotate(cat, {a: kit.shared(a), b: kit.shared(a)}, kit.shared(a))


def shared_chain(model, kit):
    """A chain of SharedQuantizationSpec: each add's inputs and output share its first input
    edge, and the next add's first input is the previous sum."""
    conv_weights(model, kit)
    for add in nodes(model, aten.add.Tensor):
        a, b = add.args[:2]
        kit.annotate(add, {a: kit.act(), b: kit.shared((a, add))}, kit.shared((a, add)))


def derived_bias(model, kit):
    """A conv whose int32 bias's qparams derive from its input's and weight's observers."""
    conv = first(model, aten.conv2d.default)
    x, w, b = conv.args[:3]
    kit.annotate(conv, {x: kit.act(), w: kit.tensor_weight(), b: kit.derived_bias([(x, conv), (w, conv)])},
                 kit.act())


def fixed_qparams(model, kit):
    """sigmoid's output has fixed qparams (scale 1/256, zero point 0); its input is observed."""
    conv_weights(model, kit)
    sigmoid = first(model, aten.sigmoid.default)
    kit.annotate(sigmoid, {sigmoid.args[0]: kit.act()}, kit.fixed())


def dynamic(model, kit):
    """A dynamic linear: its input observed by a dynamic placeholder, its weight per channel."""
    linear = first(model, aten.linear.default)
    kit.annotate(linear, {linear.args[0]: kit.dynamic(), linear.args[1]: kit.weight()})


def _two_consumers(model, kit, implicit_sharing: bool, second_dtype=torch.int8):
    conv_weights(model, kit)
    relu = first(model, aten.relu.default)
    hardtanh = first(model, aten.hardtanh.default)
    kit.annotate(relu, {relu.args[0]: kit.act()}, implicit_sharing=implicit_sharing)
    kit.annotate(hardtanh, {hardtanh.args[0]: kit.act(second_dtype)}, implicit_sharing=implicit_sharing)


def implicit_sharing_on(model, kit):
    """The conv's output and both consumers' input edges have equal specs: implicitly one observer."""
    _two_consumers(model, kit, True)


def implicit_sharing_off(model, kit):
    """As implicit-sharing-on, with allow_implicit_sharing=False on the consumers."""
    _two_consumers(model, kit, False)


def implicit_sharing_other_dtype(model, kit):
    """One consumer's input edge is uint8, the conv's output int8: that edge is not shared."""
    _two_consumers(model, kit, True, torch.uint8)


def every_input(model, kit):
    """Every tensor input of every call_function node, and its output, static int8: what
    the mutable buffer's in-place add reads is left unobserved."""
    for node in list(model.graph.nodes):
        if node.op != "call_function" or not isinstance(node.meta.get("val"), torch.Tensor):
            continue
        tensors = [a for a in node.args if isinstance(a, torch.fx.Node) and holds_tensor(a)]
        kit.annotate(node, {a: kit.act() for a in tensors}, kit.act())


def annotated_twice(model, kit):
    """The linear annotated int8, then again uint8 with a weight: the second annotation is
    the one prepare sees."""
    linear = first(model, aten.linear.default)
    kit.annotate(linear, {linear.args[0]: kit.act()}, kit.act())
    kit.annotate(linear, {linear.args[0]: kit.act(torch.uint8), linear.args[1]: kit.weight()}, kit.act(torch.uint8))


def some_inputs(model, kit):
    """add's second input alone is annotated (and its output)."""
    add = first(model, aten.add.Tensor)
    kit.annotate(add, {add.args[1]: kit.act()}, kit.act())


def shared_weight(model, kit):
    """Both linears annotate the one weight alike: the two edges share one observer."""
    for linear in nodes(model, aten.linear.default):
        kit.annotate(linear, {linear.args[0]: kit.act(), linear.args[1]: kit.weight()}, kit.act())


def list_output(model, kit):
    """split's output (a list) is annotated but not observed; its pieces and the mul are."""
    conv_weights(model, kit)
    split = next(n for n in model.graph.nodes if n.op == "call_function" and "split" in str(n.target))
    kit.annotate(split, {split.args[0]: kit.act()}, kit.act())
    for piece in (n for n in model.graph.nodes if n.op == "call_function" and n.args and n.args[0] is split):
        kit.annotate(piece, output=kit.act())
    mul = first(model, aten.mul.Tensor)
    kit.annotate(mul, {a: kit.act() for a in mul.args[:2]}, kit.act())


# -- refusals ----------------------------------------------------------------------------------


def shared_with_unannotated(model, kit):
    """add's input shares an edge nobody annotated (conv1 -> add is not in the annotations)."""
    add = first(model, aten.add.Tensor)
    a, b = add.args[:2]
    kit.annotate(add, {b: kit.shared((a, add))})


def derived_per_channel_without_axis(model, kit):
    """A per-channel derived bias spec with no ch_axis."""
    conv = first(model, aten.conv2d.default)
    x, w, b = conv.args[:3]
    kit.annotate(conv, {x: kit.act(), w: kit.weight(),
                        b: kit.derived_bias([(x, conv), (w, conv)], qscheme=torch.per_channel_symmetric)})


def range_upside_down(model, kit):
    """A spec whose quant_min is above its quant_max."""
    linear = first(model, aten.linear.default)
    spec = kit.q.QuantizationSpec(dtype=torch.int8, quant_min=10, quant_max=-10, qscheme=torch.per_tensor_affine,
                                  observer_or_fake_quant_ctr=kit.act_observer)
    kit.annotate(linear, {linear.args[0]: spec})


def shared_cycle(model, kit):
    """add's first input edge shares add's output, which shares that edge: a chain of
    shared specs with no spec at its end."""
    add = first(model, aten.add.Tensor)
    a = add.args[0]
    kit.annotate(add, {a: kit.shared(add)}, kit.shared((a, add)))


# name -> (model class, inputs, annotate, refuses)
ANNOTATIONS = {
    "input-only": (LinearModel, _rows, input_only, False),
    "output-only": (ConvRelu, _image, output_only, False),
    "weight-input-output": (LinearModel, _rows, weight_input_output, False),
    "shared-edge": (TwoConvsAdd, _image, shared_edge, False),
    "shared-node": (Cat, _image, shared_node, False),
    "shared-chain": (AddChain, _image, shared_chain, False),
    "derived-bias": (ConvRelu, _image, derived_bias, False),
    "fixed-qparams": (ConvSigmoid, _image, fixed_qparams, False),
    "dynamic": (LinearModel, _rows, dynamic, False),
    "implicit-sharing-on": (TwoConsumers, _image, implicit_sharing_on, False),
    "implicit-sharing-off": (TwoConsumers, _image, implicit_sharing_off, False),
    "implicit-sharing-other-dtype": (TwoConsumers, _image, implicit_sharing_other_dtype, False),
    "mutable-buffer": (MutableBuffer, _rows, every_input, False),
    "annotated-twice": (LinearModel, _rows, annotated_twice, False),
    "some-inputs": (TwoConvsAdd, _image, some_inputs, False),
    "shared-weight": (SharedWeight, _rows, shared_weight, False),
    "list-output": (SplitModel, _image, list_output, False),
    "every-input": (Cat, _image, every_input, False),
    "shared-with-unannotated": (TwoConvsAdd, _image, shared_with_unannotated, True),
    "derived-per-channel-without-axis": (ConvRelu, _image, derived_per_channel_without_axis, True),
    "range-upside-down": (LinearModel, _rows, range_upside_down, True),
    "shared-cycle": (TwoConvsAdd, _image, shared_cycle, True),
}


def hand_written_quantizer(annotate, is_qat: bool):
    """A Quantizer whose annotate is `annotate(model, Kit(is_qat))`."""
    from .pt2e_source import module

    class HandWritten(module("quantizer").Quantizer):
        def annotate(self, model):
            annotate(model, Kit(is_qat))
            return model

        def validate(self, model):
            pass

    return HandWritten()


def recipes() -> list[Recipe]:
    from .pt2e import _source

    def preset(name, annotate, is_qat):
        def make():
            _source()
            return hand_written_quantizer(annotate, is_qat)

        return ConfigPreset(name, is_qat=is_qat, quantizer=make, tags=(FAMILY, "qat" if is_qat else "ptq"))

    out = []
    for name, (model, inputs, annotate, refuses) in ANNOTATIONS.items():
        presets = (preset("annotation-static", annotate, False), preset("annotation-qat", annotate, True))
        out.append(Recipe(FAMILY, f"annotations/{name}", model, inputs, tags=(FAMILY, "annotations"),
                          presets=presets, rejects=tuple(p.name for p in presets) if refuses else ()))
    return out


# -- generated annotations (Hypothesis: conformance/generate.py draws them) ----------------------

SPEC_KINDS = ("act-int8", "act-uint8", "weight", "tensor-weight", "dynamic", "fixed", "shared", "derived", "none")


def check_entries(entries) -> None:
    """ValueError when generated annotation entries are malformed (they are data: a frozen
    case's JSON file holds them)."""
    if not isinstance(entries, list):
        raise ValueError("annotations must be a list of entries")
    for entry in entries:
        if not isinstance(entry["node"], int) or not isinstance(entry.get("implicit", True), bool):
            raise ValueError(f"malformed annotation entry {entry!r}")
        for position, spec in entry["inputs"]:
            if not isinstance(position, int):
                raise ValueError(f"malformed input position {position!r}")
            _check_spec(spec)
        if entry.get("output") is not None:
            _check_spec(entry["output"])


def _check_spec(spec) -> None:
    if spec["kind"] not in SPEC_KINDS:
        raise ValueError(f"unknown spec kind {spec['kind']!r} (known: {', '.join(SPEC_KINDS)})")
    refs = [spec["to"]] if spec["kind"] == "shared" else spec["from"] if spec["kind"] == "derived" else []
    for ref in refs:
        if not (isinstance(ref, dict) and (isinstance(ref.get("node"), int) or
                                           (isinstance(ref.get("edge"), list) and len(ref["edge"]) == 2))):
            raise ValueError(f"malformed reference {ref!r}")


def _tensor_inputs(node) -> list:
    found = []

    def walk(arg):
        if isinstance(arg, (list, tuple)):
            for inner in arg:
                walk(inner)
        elif isinstance(arg, torch.fx.Node) and holds_tensor(arg) and arg not in found:
            found.append(arg)

    walk(node.args)
    return found


def apply_entries(entries, model, kit) -> None:
    """Generated annotations, applied to the exported graph: entry i annotates tensor node
    `node` (modulo their number, in graph order), each of its inputs by position among the
    node's tensor inputs (modulo), and its output; a shared or derived spec refers to an
    edge (entry, input) or a node (entry) of the entries, which may be annotated later or
    never (prepare then refuses, and that is the case's outcome). A node annotated by two
    entries keeps the last annotation."""
    nodes = [n for n in model.graph.nodes if n.op == "call_function" and isinstance(n.meta.get("val"), torch.Tensor)]
    if not nodes:
        return
    placed = []
    for entry in entries:
        node = nodes[entry["node"] % len(nodes)]
        tensors = _tensor_inputs(node)
        placed.append((node, [tensors[p % len(tensors)] for p, _ in entry["inputs"]] if tensors else []))

    def ref(r):
        node, inputs = placed[(r["node"] if "node" in r else r["edge"][0]) % len(placed)]
        if "node" in r or not inputs:
            return node
        return inputs[r["edge"][1] % len(inputs)], node

    def spec_of(s):
        kind = s["kind"]
        if kind in ("act-int8", "act-uint8"):
            return kit.act(torch.int8 if kind == "act-int8" else torch.uint8)
        if kind == "shared":
            return kit.shared(ref(s["to"]))
        if kind == "derived":
            return kit.derived_bias([ref(r) for r in s["from"]])
        return {"weight": kit.weight, "tensor-weight": kit.tensor_weight, "dynamic": kit.dynamic,
                "fixed": kit.fixed, "none": lambda: None}[kind]()

    for (node, inputs), entry in zip(placed, entries):
        specs = {arg: spec_of(s) for arg, (_, s) in zip(inputs, entry["inputs"])}
        output = spec_of(entry["output"]) if entry.get("output") is not None else None
        kit.annotate(node, specs, output, entry.get("implicit", True))


def generated_quantizer(entries, is_qat: bool):
    """The quantizer of a generated pt2e case: it applies `entries` (apply_entries)."""
    return hand_written_quantizer(functools.partial(apply_entries, entries), is_qat)
