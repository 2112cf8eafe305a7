"""Rule family: input equalization observers (PTQ with an equalization QConfigMapping)."""

from __future__ import annotations

import warnings

import torch.nn as nn
import torch.nn.functional as F
from torch.ao.nn import intrinsic as nni
from torch.ao.quantization import ObserverBase

from .targets import is_bias, is_weight

EQUALIZABLE_MODULES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nni.LinearReLU, nni.ConvReLU1d, nni.ConvReLU2d,
                       nni.ConvReLU3d)
EQUALIZABLE_FUNCTIONS = (F.linear, F.conv1d, F.conv2d, F.conv3d)


def supports_equalization(node, modules) -> bool:
    """Linear and conv layers (modules, fused with ReLU, or functional) can be equalized."""
    if node.op == "call_module":
        return type(modules[str(node.target)]) in EQUALIZABLE_MODULES
    return node.op == "call_function" and node.target in EQUALIZABLE_FUNCTIONS


def is_quantized_branch(node, qconfigs, modules) -> bool:
    """A node is on a branch when its first argument has another user that is quantized."""
    first = node.args[0] if node.args else None
    if not hasattr(first, "users") or len(first.users) <= 1:
        return False
    return any(
        user is not node
        and (qconfigs.get(user.name) is not None
             or (user.op == "call_module" and isinstance(modules[str(user.target)], ObserverBase)))
        for user in first.users
    )


def observe_for_equalization(p, node, eq_qconfig, on_branch: bool) -> None:
    """An equalizable root node with an equalization qconfig, not on a quantized branch,
    gets an input equalization observer on each activation argument and a weight one on
    its weight (after any input observer already there); bias and constants are left."""
    if eq_qconfig is None or not supports_equalization(node, p.modules):
        return
    if on_branch:
        warnings.warn(f"Cannot equalize {node} because it is part of a branch.", stacklevel=2)
        return
    target = p.target(node)
    args = []
    for arg in node.args:
        if not hasattr(arg, "op") or is_bias(node, arg, target):
            args.append(arg)
            continue
        ctr = eq_qconfig.weight if is_weight(node, arg, target) else eq_qconfig.input_activation
        args.append(p.insert_after(arg, ctr(), "equalization", prefix=f"{arg.name}_equalization_process_"))
    node.args = tuple(args)
