"""The order in which the rule families apply: prepare as a specification.

1. trace and fuse (tracing); 2. qconfigs per module and QAT swaps (qconfig, qat);
3. match patterns (patterns); 4. prepare standalone modules (custom); 5. assign target
dtypes and fall back where the backend says no (targets); 6. one pass over the graph in
order, inserting input observers at a pattern's root and the output observer at its
last node (observers), sharing them where the op shares (sharing), handling custom
modules (custom) and equalization (equalization); 7. record what convert reads (state).
"""

from __future__ import annotations

import copy

import torch.ao.quantization.backend_config.utils  # noqa: F401  (BackendConfig needs it loaded)
from torch.ao.quantization.backend_config import BackendConfig, get_native_backend_config
from torch.ao.quantization.fx.custom_config import PrepareCustomConfig
from torch.ao.quantization.qconfig_mapping import QConfigMapping
from torch.ao.quantization.utils import _assert_and_get_unique_device
from torch.fx import GraphModule

from . import custom, observers, sharing
from .equalization import is_quantized_branch, observe_for_equalization
from .patterns import find_matches, flatten
from .qat import swap_qat_modules
from .qconfig import add_fused_module_types, assign_eager_qconfigs, mappings_are_mappings, node_qconfigs
from .state import ObservedGraphModuleAttrs
from .targets import assign_targets, is_supported
from .tracing import trace_and_fuse

RULES_KEY = "obsconf_reference_rules"


def prepare(model, qconfig_mapping, example_inputs, *, is_qat=False, prepare_custom_config=None,
            backend_config=None, equalization_config=None) -> GraphModule:
    """The contract's prepare (see conformance/contract.py)."""
    return prepare_model(model, qconfig_mapping, example_inputs, is_qat=is_qat,
                         prepare_custom_config=prepare_custom_config, backend_config=backend_config,
                         equalization_config=equalization_config)


def _as(cls, value, default):
    if value is None:
        return default()
    return cls.from_dict(value) if isinstance(value, dict) else value


def prepare_model(model, qconfig_mapping, example_inputs, *, is_qat=False, prepare_custom_config=None,
                  backend_config=None, equalization_config=None, is_standalone=False) -> GraphModule:
    """The steps in the module docstring's order; a standalone module also records its
    quantized input and output indexes."""
    config = _as(PrepareCustomConfig, prepare_custom_config, PrepareCustomConfig)
    mapping = copy.deepcopy(_as(QConfigMapping, qconfig_mapping, QConfigMapping))
    eq_mapping = copy.deepcopy(_as(QConfigMapping, equalization_config, QConfigMapping))
    preserved = {a: getattr(model, a) for a in config.preserved_attributes if hasattr(model, a)}
    model, scopes = trace_and_fuse(model, config, is_qat, backend_config, is_standalone)
    mappings_are_mappings(mapping, eq_mapping)
    backend = _as(BackendConfig, backend_config, get_native_backend_config)

    add_fused_module_types(model, mapping)
    add_fused_module_types(model, eq_mapping)
    assign_eager_qconfigs(model, mapping, config)
    if is_qat:
        swap_qat_modules(model, mapping, backend)
    modules = dict(model.named_modules(remove_duplicate=False))
    eq_qconfigs = node_qconfigs(model, modules, eq_mapping, scopes)
    qconfigs = node_qconfigs(model, modules, mapping, scopes)

    matches = find_matches(model.graph, modules, backend, config)
    custom.prepare_standalone_modules(model, matches, qconfigs, modules, config, backend, is_qat, prepare_model)
    targets = assign_targets(model.graph, matches, qconfigs, modules, backend, config)
    p = observers.Placement(model, targets, modules, _assert_and_get_unique_device(model))
    observed = place_observers(p, matches, qconfigs, eq_qconfigs, config, backend)

    result = GraphModule(model, model.graph)
    result.meta["_observed_graph_module_attrs"] = ObservedGraphModuleAttrs(
        node_name_to_qconfig=qconfigs, node_name_to_scope=scopes, prepare_custom_config=config,
        equalization_node_name_to_qconfig=eq_qconfigs, qconfig_mapping=mapping, is_qat=is_qat,
        observed_node_names=observed,
    )
    result.meta[RULES_KEY] = p.rules
    record_weight_and_bias_indexes(p)
    if is_standalone:
        custom.standalone_returns_one_value(result.graph)
        attrs = result.meta["_observed_graph_module_attrs"]
        attrs.is_observed_standalone_module = True
        attrs.standalone_module_input_quantized_idxs = config.input_quantized_indexes
        attrs.standalone_module_output_quantized_idxs = config.output_quantized_indexes
    # kept in meta too: GraphModule's deepcopy restores the attributes from there
    result.meta["_user_preserved_attributes"] = dict(preserved)
    for name, value in preserved.items():
        setattr(result, name, value)
    return result


def record_weight_and_bias_indexes(p) -> None:
    """Convert tells a functional op's weight and bias (to run its weight observer, to
    equalize it, to lower it) by the argument indexes prepare leaves in the node's
    `target_dtype_info`: the indexes of the op's pattern, for every node given a target."""
    for node, target in p.targets.items():
        node.meta["target_dtype_info"] = {"weight_index": target.weight_index, "bias_index": target.bias_index}


def place_observers(p, matches, qconfigs, eq_qconfigs, config, backend) -> set[str]:
    """One pass in graph order over the nodes as traced. A node takes part when it is in a
    pattern with a qconfig the backend supports: inputs are observed at the pattern's root,
    the output at its last node. Graph outputs are considered last. Returns the names of
    the nodes in observed patterns."""
    observed: set[str] = set()
    supported: dict = {}  # torch asks for every node of a match; the answer is the match's (and qconfig's)
    for node in list(p.graph.nodes):
        if node.op == "output":
            observers.observe_graph_output(p, node)
            continue
        match = matches.get(node.name)
        qconfig = qconfigs[node.name] if match is not None else None
        if node.op not in ("call_module", "call_method", "call_function") or qconfig is None:
            continue
        key = (id(match), id(qconfig))
        if key not in supported:
            supported[key] = is_supported(match, qconfig, p.targets, backend)
        if not supported[key]:
            continue
        observed.update(n.name for n in flatten(match.nodes))
        if node is match.root:
            eq_qconfig = eq_qconfigs.get(node.name)
            on_branch = eq_qconfig is not None and is_quantized_branch(node, qconfigs, p.modules)
            observers.observe_inputs(p, node, qconfig, config, backend)
            observe_for_equalization(p, node, eq_qconfig, on_branch)
        if node is match.last:
            observe_last_node(p, node, match, qconfig, config)
    return observed


def observe_last_node(p, node, match, qconfig, config) -> None:
    """A custom LSTM gets DeQuantStubs on its outputs and its observed class; any other
    last node gets its output observer, which it then shares with its input if it is a
    general tensor value op (observed in this graph) or has a reuse-input qconfig,
    dropping it if there is nothing to share. Custom modules take their observed class."""
    if custom.is_custom_lstm(node, p.modules, qconfig, match):
        custom.insert_lstm_dequant_stubs(p, node)
        custom.swap_custom_module(p, node, qconfig, config)
        return
    shares = shares_input_observer(p, node)

    def input_observer():
        """The observer a sharing output is handed, rather than a new one built to be replaced."""
        return sharing.first_input_observer(p, node)[1]

    if observers.observe_output(p, node, input_observer if shares else None) is None:
        return
    if shares:
        if not sharing.share_input_observer(p, node):
            sharing.remove_output_observer(p, node)
    if match.custom:
        custom.swap_custom_module(p, node, qconfig, config)


def shares_input_observer(p, node) -> bool:
    """A general tensor value op observed in this graph, and a node with a reuse-input
    qconfig, share their input's observer."""
    target = p.target(node)
    return (target.share_with_input and observers.in_same_graph(p, node)) or target.reuse_input


# The rule each inserted node records (Placement.rules), and the function that states it.
RULES = {
    "input": observers.needs_observer,
    "dynamic-input": observers.needs_observer,
    "standalone-input": custom.standalone_input_needs_observer,
    "output": observers.observe_output,
    "graph-output": observers.observe_graph_output,
    "shared": sharing.share_input_observer,
    "equalization": observe_for_equalization,
    "custom-lstm-dequant": custom.insert_lstm_dequant_stubs,
}
