"""Rule family: where input and output observers go.

An edge producer -> consumer gets an observer when the dtype the consumer expects
differs from the dtype the producer outputs (dynamic inputs: only the first argument).
"""

from __future__ import annotations

import torch
from torch.fx import Node

from . import custom
from .qconfig import is_observer, prototype
from .targets import NON_QUANTIZABLE_WEIGHT_OPS, Target, dtype_of, is_bias, is_weight

OBSERVABLE = [torch.quint8, torch.qint8, torch.qint32, torch.float16, torch.uint8, torch.int8, torch.int16,
              torch.int32, torch.float8_e5m2, torch.float8_e4m3fn]
NOT_OBSERVABLE = [int, float, torch.bool, None]
FLOAT = Target()


class Placement:
    """The graph being observed, with what the rules need: targets, modules, the device,
    and for every inserted node the rule that put it there."""

    def __init__(self, model, targets, modules, device):
        self.model, self.graph, self.targets, self.modules = model, model.graph, targets, modules
        self.device = device
        self.rules: dict[str, str] = {}
        self._next: dict[str, int] = {}
        self.swapped: set[str] = set()  # custom modules already replaced by their observed class

    def target(self, node) -> Target:
        """A node's target; nodes inserted during placement are float."""
        return self.targets.get(node, FLOAT)

    def is_observer_node(self, node) -> bool:
        """A call_module node whose module is an observer or fake-quantize."""
        return isinstance(node, Node) and node.op == "call_module" and is_observer(self.modules[str(node.target)])

    def new_attr(self, prefix: str, module) -> str:
        """Attach `module` to the model under the first free name `prefix<i>`."""
        i = self._next.get(prefix, 0)
        while hasattr(self.model, f"{prefix}{i}"):
            i += 1
        self._next[prefix] = i + 1
        setattr(self.model, f"{prefix}{i}", module)
        self.modules[f"{prefix}{i}"] = module
        return f"{prefix}{i}"

    def insert_after(self, node: Node, module, rule: str, prefix="activation_post_process_", new=True) -> Node:
        """Call `module` on `node`'s output, recording the rule; a `new` module (not one
        already called elsewhere) goes to the model's device first."""
        if new and self.device is not None:
            module.to(self.device)
        name = self.new_attr(prefix.replace(".", "_"), module)
        with self.graph.inserting_after(node):
            new = self.graph.create_node("call_module", name, (node,), {})
        self.rules[new.name] = rule
        return new

    def output_ctr(self, arg: Node):
        """What a producer outputs: a custom LSTM's through its DeQuantStubs, an observer's
        producer's, else the node's own target."""
        lstm = custom.lstm_behind(arg, self.modules)
        if lstm is not None:
            return self.targets[lstm].output_act
        if self.is_observer_node(arg):
            return self.targets[arg.args[0]].output_act
        return self.target(arg).output_act


def needs_observer(produced, produced_dynamic, expected, expected_dynamic, reuse_input, is_first_arg=False) -> bool:
    """Dynamic targets observe only a node's first argument; a reuse-input qconfig observes
    nothing; otherwise an observable expected dtype that differs from the float or
    quantized dtype produced needs an observer. A dynamic target refuses (AssertionError)
    a dtype it cannot observe, and an input with no tensor dtype (an int, a float, a bool)."""
    if expected_dynamic:
        if expected not in OBSERVABLE:
            raise AssertionError(f"Expected cur_target_dtype to be torch.float, but got: {expected}")
        if produced in NOT_OBSERVABLE:
            raise AssertionError("prev_output_dtype must not be in _DO_NOT_OBS_DTYPE_LIST")
        return is_first_arg
    if reuse_input:
        return False
    return expected in OBSERVABLE and produced in OBSERVABLE + [torch.float] and expected != produced


def input_ctr(p: Placement, node: Node, arg: Node):
    """The observer a consumer wants on an argument: its weight observer for the weight
    (none for norm ops), its bias placeholder for the bias, its activation otherwise."""
    target = p.target(node)
    if is_weight(node, arg, target):
        return None if node.target in NON_QUANTIZABLE_WEIGHT_OPS else target.weight
    if is_bias(node, arg, target):
        return target.bias
    return target.input_act


def observe_input(p: Placement, node: Node, arg, qconfig, config, backend):
    """Observe one argument (recursing into lists and tuples); reuse an observer of the
    same class and dtype already attached to the producer."""
    if isinstance(arg, (list, tuple)):
        return type(arg)(observe_input(p, node, a, qconfig, config, backend) for a in arg)
    if not isinstance(arg, Node):
        return arg
    if p.target(node).standalone:
        needed, ctr, expected = custom.standalone_input_needs_observer(p, node, arg, qconfig, config, backend)
        rule = "standalone-input"
    else:
        ctr = input_ctr(p, node, arg)
        expected, expected_dynamic = dtype_of(ctr)
        produced, produced_dynamic = dtype_of(p.output_ctr(arg))
        is_first = len(node.args) > 0 and arg is node.args[0]
        needed = needs_observer(produced, produced_dynamic, expected, expected_dynamic, p.target(node).reuse_input, is_first)
        rule = "dynamic-input" if expected_dynamic else "input"
    if not needed:
        return arg
    for user in arg.users:
        if user.op == "call_module":
            existing = p.modules[user.target]
            if type(existing) is type(prototype(ctr)) and existing.dtype == expected:
                return user
    return p.insert_after(arg, ctr(), rule)


def observe_inputs(p: Placement, node: Node, qconfig, config, backend) -> None:
    """Every argument and keyword argument of a pattern's root node is considered."""
    node.args = tuple(observe_input(p, node, a, qconfig, config, backend) for a in node.args)
    node.kwargs = {k: observe_input(p, node, v, qconfig, config, backend) for k, v in node.kwargs.items()}


def observe_output(p: Placement, node: Node, existing=None) -> Node | None:
    """A pattern's last node gets an output observer when its target output dtype is an
    observable non-float dtype and it is neither dynamic nor a standalone module; its
    users then read the observer. `existing()`, when given and not None, is the observer
    to call rather than a new one."""
    ctr = p.target(node).output_act
    dtype, dynamic = dtype_of(ctr)
    if dynamic or p.target(node).standalone or not needs_observer(torch.float, False, dtype, False, False):
        return None
    module = existing() if existing is not None else None
    obs_node = p.insert_after(node, ctr() if module is None else module, "output", new=module is None)
    for user in list(node.users):
        if user is not obs_node:
            user.replace_input_with(node, obs_node)
    return obs_node


def observe_graph_output(p: Placement, output: Node) -> None:
    """Each value returned by the graph is observed when the node that produced it
    (not the graph output) expects a non-float input dtype that differs from its output.
    A returned constant (not a node, None, or a list, tuple or dict of them) is refused."""

    def _visit(value):
        if isinstance(value, Node):
            produced, _ = dtype_of(p.output_ctr(value))
            ctr = p.targets[value].input_act if value in p.targets else None
            expected = ctr().dtype if ctr is not None else torch.float
            if produced != expected and expected != torch.float:
                return p.insert_after(value, ctr(), "graph-output")
            return value
        if isinstance(value, (list, tuple)):
            return type(value)(_visit(v) for v in value)
        if isinstance(value, dict):
            return {k: _visit(v) for k, v in value.items()}
        if value is None:
            return None
        raise Exception("Unhandled type for returned node:", value)  # noqa: TRY002 (torch raises this)

    output.args = tuple(_visit(a) for a in output.args)


def in_same_graph(p: Placement, node: Node) -> bool:
    """A quint8/uint8 node whose first argument is an unobserved placeholder is observed
    outside this graph (the input is already quantized)."""
    dtype, _ = dtype_of(p.output_ctr(node))
    first = node.args[0] if node.args else None
    return not (isinstance(first, Node) and dtype in (torch.quint8, torch.uint8) and first.op == "placeholder")
