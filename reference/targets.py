"""Rule family: the target dtype of every node, and whether the backend supports it.

Each node gets a `Target`: the observer constructors for its input activations, output,
weight and bias, and how it treats its inputs. Float unless a rule says otherwise.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch.ao.quantization import FakeQuantizeBase, PlaceholderObserver
from torch.ao.quantization.observer import FixedQParamsObserver, NoopObserver, ReuseInputObserver
from torch.ao.quantization.fake_quantize import FixedQParamsFakeQuantize
from torch.ao.quantization.qconfig import QConfig, float16_dynamic_qconfig, float16_static_qconfig, qconfig_equals

from .patterns import flatten
from .qconfig import activation_dtypes, prototype
from .tensors import args_have_no_tensors

FP32 = PlaceholderObserver.with_args(dtype=torch.float)
QUINT8 = PlaceholderObserver.with_args(dtype=torch.quint8)
FP32_QCONFIG = QConfig(activation=FP32, weight=FP32)
NON_QUANTIZABLE_WEIGHT_OPS = {torch.nn.functional.layer_norm, torch.nn.functional.group_norm,
                              torch.nn.functional.instance_norm}


@dataclass
class Target:
    """A node's expectations (constructors, or None for no tensor); float by default."""

    input_act: Any = FP32
    output_act: Any = FP32
    weight: Any = FP32
    bias: Any = FP32
    weight_index: int | None = None
    bias_index: int | None = None
    reuse_input: bool = False
    share_with_input: bool = False
    standalone: bool = False


NO_TENSOR = Target(input_act=None, output_act=None)


def dtype_of(ctr) -> tuple[Any, bool]:
    """(dtype, is_dynamic) of what a constructor builds; (None, False) for no constructor."""
    if ctr is None:
        return None, False
    obs = prototype(ctr)
    return obs.dtype, getattr(obs, "is_dynamic", False)


def target_for(node, qconfig, match, modules, backend) -> Target:
    """A node whose arguments hold no tensor expects nothing; otherwise its qconfig's
    activation on inputs and output, its weight on the weight, a placeholder on the bias
    (float16 only for static fp16), with the weight/bias argument indexes of its op."""
    if args_have_no_tensors(node, modules):
        return replace(NO_TENSOR)
    act, weight, dynamic = activation_dtypes(qconfig)
    bias = torch.float16 if act == torch.float16 and weight == torch.float16 and not dynamic else torch.float
    indexes = {}
    if node.op == "call_function" and node.target in backend._pattern_complex_format_to_config:
        indexes = backend._pattern_complex_format_to_config[node.target]._input_type_to_index
    return Target(
        input_act=qconfig.activation, output_act=qconfig.activation, weight=qconfig.weight,
        bias=PlaceholderObserver.with_args(dtype=bias),
        weight_index=indexes.get("weight"), bias_index=indexes.get("bias"),
        reuse_input=_is_reuse_input(qconfig),
        share_with_input=match is not None and match.shares_with_input,
        standalone=match is not None and match.standalone,
    )


def _is_reuse_input(qconfig) -> bool:
    """A qconfig of ReuseInputObserver activations and NoopObserver weights reuses its input's observer."""
    return isinstance(prototype(qconfig.activation), ReuseInputObserver) and isinstance(prototype(qconfig.weight), NoopObserver)


def set_targets_for_match(match, qconfig, targets, modules, backend, done: set, as_match=True) -> None:
    """Each node of a matched pattern gets its target once, from the pattern's qconfig;
    a None qconfig leaves it float."""
    for node in flatten(match.nodes):
        if node in done:
            continue
        done.add(node)
        if qconfig is not None:
            targets[node] = target_for(node, qconfig, match if as_match else None, modules, backend)


def mark_graph_boundaries(graph, targets, modules, input_idxs, output_idxs) -> None:
    """Placeholders listed in input_quantized_idxs and outputs listed in
    output_quantized_idxs are quint8; ops whose arguments hold no tensors expect nothing."""
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    for node in graph.nodes:
        if node.op == "placeholder" and placeholders.index(node) in input_idxs:
            targets[node] = Target(input_act=QUINT8, output_act=QUINT8)
        elif node.op in ("call_module", "call_method", "call_function") and args_have_no_tensors(node, modules):
            targets[node] = replace(NO_TENSOR)
        elif node.op == "output" and 0 in output_idxs:
            targets[node] = Target(input_act=QUINT8, output_act=QUINT8)


# (op, target) -> {non-tensor dtype: argument indexes}; `None` means every argument after the first
NON_TENSOR_ARGS = {
    ("call_method", "masked_fill"): {torch.bool: [1], float: [2]},
    **{("call_method", m): {int: None} for m in ("permute", "repeat", "reshape", "transpose", "view")},
    ("call_method", torch.transpose): {int: None},
    **{("call_method", m): {int: [1]} for m in ("size", "unsqueeze", "unsqueeze_", torch.unsqueeze)},
}


def propagate_known_dtypes(graph, targets, matches) -> None:
    """Arguments known to be bool, int or float (a masked_fill mask, view's sizes) expect
    and produce nothing; through general tensor value ops this walks back the first argument."""
    for node in graph.nodes:
        for indexes in NON_TENSOR_ARGS.get((node.op, node.target), {}).values():
            indexes = range(1, len(node.args)) if indexes is None else [i for i in indexes if i < len(node.args)]
            for i in indexes:
                arg = node.args[i]
                for value in arg if isinstance(arg, (list, tuple)) else [arg]:
                    if isinstance(value, torch.fx.Node):
                        _mark_non_tensor(value, targets, matches)


def _mark_non_tensor(node, targets, matches) -> None:
    targets[node].input_act = targets[node].output_act = None
    match = matches.get(node.name)
    if match is not None and match.shares_with_input and isinstance(node.args[0], torch.fx.Node):
        _mark_non_tensor(node.args[0], targets, matches)


# -- backend support -------------------------------------------------------------------


def is_supported(match, qconfig, targets, backend) -> bool:
    """A pattern is supported when one of its dtype configs accepts the root node's
    inputs and the last node's output (dtype, dynamism and constraints); custom and
    standalone modules always are."""
    if match is None or match.pattern is None:
        return True
    root, last = match.root, match.nodes[0]
    args = list(root.args) + list(root.kwargs.values())
    for dtype_config in match.config.dtype_configs:
        if all(_input_supported(a, root, qconfig, dtype_config, targets) for a in args) and _output_supported(
            last, qconfig, dtype_config, targets
        ):
            return True
    return False


def _input_supported(arg, node, qconfig, dtype_config, targets) -> bool:
    if isinstance(arg, (list, tuple)):
        return all(_input_supported(a, node, qconfig, dtype_config, targets) for a in arg)
    if not isinstance(arg, torch.fx.Node):
        return True
    target = targets[node]
    if is_weight(node, arg, target):
        dtype, _ = dtype_of(target.weight)
        return dtype_config.weight_dtype is None or (
            dtype == dtype_config.weight_dtype
            and satisfies_constraints(qconfig, dtype_config.weight_dtype_with_constraints, activation=False)
        )
    if is_bias(node, arg, target):
        return dtype_config.bias_dtype is None or dtype_of(target.bias)[0] == dtype_config.bias_dtype
    dtype, dynamic = dtype_of(target.input_act)
    return dtype_config.input_dtype is None or (
        dtype_config.input_dtype == dtype
        and bool(dtype_config.is_dynamic) == bool(dynamic)
        and satisfies_constraints(qconfig, dtype_config.input_dtype_with_constraints)
    )


def _output_supported(node, qconfig, dtype_config, targets) -> bool:
    dtype, dynamic = dtype_of(targets[node].output_act)
    if dynamic:  # a dynamically quantized op outputs float
        dtype = torch.float32
    return dtype_config.output_dtype is None or (
        dtype == dtype_config.output_dtype
        and satisfies_constraints(qconfig, dtype_config.output_dtype_with_constraints)
    )


def is_weight(node, arg, target) -> bool:
    """An argument is the weight when it sits at the op's weight index or is passed as `weight=`."""
    i = target.weight_index
    return (i is not None and i < len(node.args) and node.args[i] is arg) or node.kwargs.get("weight") is arg


def is_bias(node, arg, target) -> bool:
    """An argument is the bias when it sits at the op's bias index or is passed as `bias=`."""
    i = target.bias_index
    return (i is not None and i < len(node.args) and node.args[i] is arg) or node.kwargs.get("bias") is arg


def satisfies_constraints(qconfig, constraints, activation=True) -> bool:
    """A qconfig whose observer has the constrained dtype must keep its quant range within
    the backend's, its eps at least the backend's minimum scale, and, for fixed-qparams
    ops, be fp16 or a fixed-qparams observer with exactly the backend's scale and zero point."""
    ranged = constraints.quant_min_lower_bound is not None and constraints.quant_max_upper_bound is not None
    exact = constraints.scale_exact_match is not None and constraints.zero_point_exact_match is not None
    if qconfig is None or constraints.dtype is None or not (ranged or exact or constraints.scale_min_lower_bound is not None):
        return True  # (most dtype configs constrain nothing)
    ctr = qconfig.activation if activation else qconfig.weight
    if ctr is None:
        return True
    obs = prototype(ctr)
    if obs.dtype != constraints.dtype:
        return True
    inner = obs.activation_post_process if isinstance(obs, FakeQuantizeBase) else obs
    qmin, qmax, eps = (getattr(inner, a, None) for a in ("quant_min", "quant_max", "eps"))
    reason = None
    if ranged:
        if qmin is None or qmax is None or qmin < constraints.quant_min_lower_bound or qmax > constraints.quant_max_upper_bound:
            reason = "quantization range outside the backend's"
    if reason is None and constraints.scale_min_lower_bound is not None:
        if eps is None or eps < constraints.scale_min_lower_bound:
            reason = "eps below the backend's min scale"
    if reason is None and exact:
        if any(qconfig_equals(qconfig, q) for q in (float16_static_qconfig, float16_dynamic_qconfig)):
            return True
        if not isinstance(obs, (FixedQParamsObserver, FixedQParamsFakeQuantize)):
            reason = "fixed-qparams op needs a FixedQParamsObserver or FixedQParamsFakeQuantize"
        elif inner.scale != constraints.scale_exact_match or inner.zero_point != constraints.zero_point_exact_match:
            reason = "fixed scale and zero point differ from the backend's"
    if reason is not None:
        warnings.warn(f"QConfig {'activation' if activation else 'weight'}: {reason}, ignoring {qconfig}", stacklevel=2)
        return False
    return True


def assign_targets(graph, matches, qconfigs, modules, backend, config) -> dict:
    """Targets from the matched patterns, then the graph's quantized inputs and outputs and
    no-tensor ops, then known non-tensor arguments; finally every pattern the backend does
    not support falls back to float. A pattern takes the qconfig of the first of its nodes
    in match order."""
    targets = {node: Target() for node in graph.nodes}
    done: set = set()
    for name, match in matches.items():
        set_targets_for_match(match, qconfigs[name], targets, modules, backend, done)
    mark_graph_boundaries(graph, targets, modules, config.input_quantized_indexes, config.output_quantized_indexes)
    propagate_known_dtypes(graph, targets, matches)
    done = set()
    for name, match in matches.items():
        # torch also requires a non-None/int/float/bool output dtype here, but reads it from
        # the graph's output node, which always has one: the condition is always true.
        if not is_supported(match, qconfigs[name], targets, backend):
            set_targets_for_match(match, FP32_QCONFIG, targets, modules, backend, done, as_match=False)
    return targets
