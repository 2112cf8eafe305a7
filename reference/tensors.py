"""Rule family: which values are known not to be tensors (and so are never observed)."""

from __future__ import annotations

import operator

from torch.fx import Node

from .qconfig import is_observer


def args_have_no_tensors(node, modules) -> bool:
    """True when a node is known to produce no tensor: a constant, a `size()` call, a
    `.shape`/`.ndim` attribute, or an op whose arguments are all ints or such nodes
    (scanning stops at the first tensor-like argument; other constants count as tensors).
    Placeholders, modules and get_attr produce tensors; getitem and observers pass through."""
    if not isinstance(node, Node):
        return True
    if node.op in ("placeholder", "get_attr"):
        return False
    if node.op == "call_module":
        return is_observer(modules[node.target]) and args_have_no_tensors(node.args[0], modules)
    if node.op == "call_function" and node.target is operator.getitem:
        return args_have_no_tensors(node.args[0], modules)
    if node.target is getattr and node.args[1] in ("ndim", "shape"):
        return True
    if node.op == "call_method" and node.target == "size":
        return True
    result = False  # a node without arguments
    for arg in node.args:
        if isinstance(arg, list):
            if any(isinstance(a, Node) and not args_have_no_tensors(a, modules) for a in arg):
                return False
        elif isinstance(arg, Node):
            if not args_have_no_tensors(arg, modules):
                return False
        elif not isinstance(arg, int):
            return False
        result = True
    return result
