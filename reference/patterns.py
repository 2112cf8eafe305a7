"""Rule family: matching the graph against the BackendConfig's patterns.

A pattern is in the config's complex format: `(op, arg_pattern, ...)`, read from the
last op of a chain back to its inputs; `MatchAllNode` matches anything.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import torch
from torch.ao.quantization.backend_config import BackendConfig, ObservationType
from torch.ao.quantization.utils import MatchAllNode
from torch.fx import Node
from torch.nn.utils.parametrize import type_before_parametrizations

from .qconfig import is_observed_standalone
from .tensors import args_have_no_tensors


@dataclass
class Match:
    """One matched pattern: its last node, the matched nodes (nested as the pattern is),
    the pattern and its config (None for custom and standalone modules), and its root
    node, the one whose inputs are observed."""

    last: Node
    nodes: Any
    pattern: Any
    config: Any
    root: Node
    custom: bool = False
    standalone: bool = False
    shares_with_input: bool = False


def pattern_size(pattern) -> int:
    """How many ops a (nested) pattern names."""
    return sum(pattern_size(p) for p in pattern) if isinstance(pattern, tuple) else 1


def patterns_longest_first(backend: BackendConfig) -> list:
    """Fused (tuple) patterns are tried before single ops, longest first; ties keep config order."""
    items = list(backend._pattern_complex_format_to_config.items())
    return sorted(items, key=lambda kv: -pattern_size(kv[0]) if isinstance(kv[0], tuple) else 1)


def head_key(pattern):
    """What a pattern's outermost op is: a module class, a function, or a method name."""
    return pattern[0] if isinstance(pattern, tuple) else pattern


def node_key(node, modules):
    """What a node calls, comparable with a pattern's head."""
    if node.op == "call_module":
        return type_before_parametrizations(modules[node.target])
    return node.target if node.op in ("call_function", "call_method") else None


def candidates_by_head(patterns) -> dict | None:
    """Patterns grouped by their outermost op, keeping their order, so each node is tried
    only against patterns that can match it; None when some pattern's head is a wildcard."""
    index: dict = {}
    for pattern, config in patterns:
        head = head_key(pattern)
        if isinstance(head, type) and issubclass(head, MatchAllNode) or not (callable(head) or isinstance(head, str)):
            return None
        index.setdefault(head, []).append((pattern, config))
    return index


def default_root(nodes):
    """Without a root node getter, the root is the innermost last element."""
    while not isinstance(nodes, Node):
        nodes = nodes[-1]
    return nodes


def is_match(modules, node, pattern, max_uses=sys.maxsize) -> bool:
    """A node matches a pattern when its op matches (module class, function identity,
    method name) and each argument matches its sub-pattern; nodes inside a fused
    pattern may have only one user."""
    this, *arg_patterns = pattern if isinstance(pattern, tuple) else (pattern,)
    if this is getattr:
        arg_patterns = []
    if isinstance(this, type) and issubclass(this, MatchAllNode):
        return True
    if node == pattern:
        return True
    if not isinstance(node, Node) or len(node.users) > max_uses:
        return False
    if isinstance(this, type) and issubclass(this, torch.nn.Module):
        if node.op != "call_module" or type_before_parametrizations(modules[node.target]) != this:
            return False
    elif callable(this):
        if node.op != "call_function" or node.target is not this:
            return False
        if node.target is getattr and node.args[1] != pattern[1]:
            return False
    elif isinstance(this, str):
        if node.op != "call_method" or node.target != this:
            return False
    elif node.target != this:
        return False
    if not arg_patterns:
        return True
    if len(arg_patterns) != len(node.args):
        return False
    return all(is_match(modules, a, p, max_uses=1) for a, p in zip(node.args, arg_patterns))


def matched_nodes(pattern, node, into: list) -> None:
    """The nodes a pattern covers, nested like the pattern: a single-argument chain of
    several nodes is kept as a tuple, several arguments are flattened."""
    if not isinstance(pattern, tuple):
        into.append(node)
        return
    this, *arg_patterns = pattern
    matched_nodes(this, node, into)
    inner: list = []
    if this is not getattr:
        for sub, arg in zip(arg_patterns, node.args):
            matched_nodes(sub, arg, inner)
    if len(inner) > 1:
        into.append(tuple(inner)) if len(arg_patterns) == 1 else into.extend(inner)
    else:
        into.append(inner[0])


def flatten(nodes) -> list[Node]:
    """The nodes in a nested match, in order."""
    if isinstance(nodes, Node):
        return [nodes]
    return [n for item in nodes if isinstance(item, (Node, list, tuple)) for n in flatten(item)]


def shares_with_input(config, root: Node, modules) -> bool:
    """A pattern is a general tensor value op when its observation type (chosen by its
    number of tensor arguments, if the config says so) is OUTPUT_SHARE_OBSERVER_WITH_INPUT."""
    by_count = config._num_tensor_args_to_observation_type
    observation = config.observation_type
    if by_count:
        count = sum(1 for a in root.args if isinstance(a, Node) and not args_have_no_tensors(a, modules))
        if count not in by_count:
            raise AssertionError(f"Must provide observation_type config for tensor number {count}")
        observation = by_count[count]
    return observation == ObservationType.OUTPUT_SHARE_OBSERVER_WITH_INPUT


def find_matches(graph, modules, backend: BackendConfig, config) -> dict[str, Match]:
    """Walking the graph from its output back, each node not yet covered takes the first
    pattern that matches it; then custom modules and standalone modules override."""
    patterns = patterns_longest_first(backend)
    index = candidates_by_head(patterns)
    matches: dict[str, Match] = {}
    for node in reversed(graph.nodes):
        if node.name in matches:
            continue
        candidates = patterns if index is None else index.get(node_key(node, modules), [])
        for pattern, pattern_config in candidates:
            if is_match(modules, node, pattern):
                nodes: list = []
                matched_nodes(pattern, node, nodes)
                root = (pattern_config._root_node_getter or default_root)(nodes)
                match = Match(node, nodes, pattern, pattern_config, root)
                if isinstance(root, Node):
                    match.shares_with_input = shares_with_input(pattern_config, root, modules)
                for n in flatten(nodes):
                    matches[n.name] = match
                break
    custom = set()
    for mapping in config.float_to_observed_mapping.values():
        custom.update(mapping)
    for node in graph.nodes:
        if node.op == "call_module" and type(modules[node.target]) in custom:
            matches[node.name] = Match(node, node, None, None, node, custom=True)
    for node in graph.nodes:
        if node.op == "call_module" and (
            node.target in config.standalone_module_names
            or type(modules[node.target]) in config.standalone_module_classes
            or is_observed_standalone(modules[node.target])
        ):
            matches[node.name] = Match(node, node, None, None, node, standalone=True)
    return matches
