"""Rule family: custom modules (observed-class swap, the custom LSTM's DeQuantStubs) and
standalone modules (prepared on their own, with their own configs)."""

from __future__ import annotations

import operator

import torch
from torch.ao.nn.quantizable import LSTM as QuantizableLSTM
from torch.ao.quantization import DeQuantStub
from torch.ao.quantization.fx.custom_config import PrepareCustomConfig, StandaloneModuleConfigEntry
from torch.ao.quantization.qconfig_mapping import QConfigMapping
from torch.ao.quantization.utils import get_swapped_custom_module_class
from torch.fx import Node

from .qconfig import is_static


def module_of(node, modules):
    """The module a call_module node calls, else None."""
    return modules.get(str(node.target)) if node.op == "call_module" else None


def set_submodule(modules, name: str, module) -> None:
    """Replace the module at a dotted name, in the model and in `modules`."""
    parent, _, leaf = name.rpartition(".")
    setattr(modules[parent], leaf, module)
    modules[name] = module


def is_custom_lstm(node, modules, qconfig, match) -> bool:
    """The custom-LSTM flow applies to a float nn.LSTM matched as a custom module under a
    statically quantized qconfig."""
    return isinstance(module_of(node, modules), torch.nn.LSTM) and is_static(qconfig) and match.custom


def swap_custom_module(p, node, qconfig, config) -> None:
    """A custom module is replaced by its observed class (chosen by the qconfig's quant
    type), once however many nodes call it. A qconfig of no quant type (a float16 weight
    beside a quint8 activation) refuses (Exception: Unrecognized dtype combination)."""
    if node.target in p.swapped:
        return
    p.swapped.add(node.target)
    modules = p.modules
    module = modules[node.target]
    observed = get_swapped_custom_module_class(module, config.float_to_observed_mapping, qconfig)
    set_submodule(modules, node.target, observed.from_float(module))


# what a custom LSTM's output looks like once its DeQuantStubs are in, read from the user back
LSTM_OUTPUT_SHAPES = (
    ("dq", "getitem", "lstm"),
    ("tuple", "dq", "getitem", "getitem", "lstm"),
    ("dq", "getitem", "getitem", "lstm"),
    ("tuple", "dq", "getitem", "lstm"),
)


def _is_step(step: str, a, modules) -> bool:
    if step == "dq":
        return isinstance(module_of(a, modules), DeQuantStub)
    if step == "lstm":
        return isinstance(module_of(a, modules), QuantizableLSTM)
    return a.op == "call_function" and a.target is (operator.getitem if step == "getitem" else tuple)


def lstm_behind(arg, modules):
    """The custom LSTM whose output `arg` is, seen through the DeQuantStubs and
    getitem/tuple plumbing inserted after it (four shapes), or None."""
    for shape in LSTM_OUTPUT_SHAPES:
        a = arg
        for i, step in enumerate(shape):
            if not _is_step(step, a, modules):
                break
            if i < len(shape) - 1:
                a = a.args[0][0] if step == "tuple" else a.args[0]
        else:
            return a
    return None


def insert_lstm_dequant_stubs(p, node: Node) -> Node:
    """A custom LSTM's output (out, (h, c)) is split with getitem, each tensor goes through
    a DeQuantStub, and tuples rebuild the structure for the LSTM's users."""
    graph = p.graph

    def _stub(x):
        return p.insert_after(x, DeQuantStub(), "custom-lstm-dequant", prefix="dequant_stub_")

    with graph.inserting_after(node):
        out = graph.call_function(operator.getitem, (node, 0))
        out_dq = _stub(out)
    with graph.inserting_after(out_dq):
        hidden = graph.call_function(operator.getitem, (node, 1))
    with graph.inserting_after(hidden):
        h = graph.call_function(operator.getitem, (hidden, 0))
        h_dq = _stub(h)
    with graph.inserting_after(h_dq):
        c = graph.call_function(operator.getitem, (hidden, 1))
        c_dq = _stub(c)
    with graph.inserting_after(c_dq):
        hidden_dq = graph.call_function(tuple, ([h_dq, c_dq],))
    with graph.inserting_after(hidden_dq):
        result = graph.call_function(tuple, ([out_dq, hidden_dq],))
    for user in list(node.users):
        if user is not out and user is not hidden:
            user.replace_input_with(node, result)
    skip_tuple_then_getitem(graph)
    return result


def skip_tuple_then_getitem(graph) -> None:
    """N nested `tuple` nodes followed by the N `getitem`s that undo them are bypassed:
    the last getitem's users read the tuple's element directly."""
    found, seen = [], set()

    def _walk(node, stack, chain):
        if not stack and chain:
            found.append(list(chain))
            chain.clear()
        if (node, tuple(stack)) in seen:
            return
        seen.add((node, tuple(stack)))
        for user in node.users:
            if user.op == "call_function" and user.target is tuple:
                for i, a in enumerate(user.args[0]):
                    if a == node:
                        stack.append(i)
                        chain.append(user)
                        _walk(user, stack, chain)
            elif user.op == "call_function" and user.target is operator.getitem and stack and user.args[1] == stack[-1]:
                stack.pop()
                chain.append(user)
                _walk(user, stack, chain)

    for node in graph.nodes:
        _walk(node, [], [])
    for chain in found:
        replacement = chain[0].args[0][chain[-1].args[1]]
        for user in list(chain[-1].users):
            user.replace_input_with(chain[-1], replacement)


def standalone_configs(node, modules, config: PrepareCustomConfig, parent_qconfig, parent_backend):
    """A standalone module's configs: its entry by name, else by class; without a qconfig
    mapping it takes the parent's qconfig globally, without a backend config the parent's."""
    entry = StandaloneModuleConfigEntry(None, (), None, None)
    entry = config.standalone_module_classes.get(type(modules[str(node.target)]), entry)
    entry = config.standalone_module_names.get(str(node.target), entry)
    mapping = entry.qconfig_mapping or QConfigMapping().set_global(parent_qconfig)
    return mapping, entry.example_inputs, entry.prepare_custom_config or PrepareCustomConfig(), (
        entry.backend_config or parent_backend
    )


def standalone_input_needs_observer(p, node, arg, qconfig, config, backend):
    """A standalone module's positional input is observed (with the parent's activation
    observer) when the module expects it quantized (input_quantized_idxs) and the producer
    does not already output that dtype."""
    _, _, inner_config, _ = standalone_configs(node, p.modules, config, qconfig, backend)
    index = next((i for i, a in enumerate(node.args) if a is arg), None)
    if index is None:
        return False, qconfig.activation, None
    expected = torch.quint8 if index in inner_config.input_quantized_indexes else torch.float
    produced = p.output_ctr(arg)
    produced = produced().dtype if produced is not None else None
    return produced != expected and expected != torch.float, qconfig.activation, expected


def prepare_standalone_modules(model, matches, qconfigs, modules, config, backend, is_qat, prepare) -> None:
    """Each standalone module is prepared on its own (as a standalone module) and replaces
    the float one."""
    for name, match in list(matches.items()):
        if not match.standalone:
            continue
        mapping, inputs, inner_config, inner_backend = standalone_configs(match.last, modules, config, qconfigs[name], backend)
        observed = prepare(modules[match.last.target], mapping, inputs, is_qat=is_qat, prepare_custom_config=inner_config,
                           backend_config=inner_backend, is_standalone=True)
        set_submodule(modules, match.last.target, observed)


def standalone_returns_one_value(graph) -> None:
    """A standalone module must return one value, not a tuple or dict of them (AssertionError):
    its parent sees it as one node with one output observer."""
    output = next(n for n in graph.nodes if n.op == "output")
    if not hasattr(output.args[0], "op"):
        raise AssertionError("standalone module only supports returning simple value currently (not tuple, dict etc.)")
