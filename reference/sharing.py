"""Rule family: ops whose output shares its input's observer (general tensor value ops,
reuse-input qconfigs), and dropping the output observer when there is none to share."""

from __future__ import annotations

from torch.fx import Node

from .custom import set_submodule


WALK_LIMIT = 10_000  # steps a walk back to an observer takes before it gives up


def walked_too_far(steps: int) -> None:
    """A walk back to the observer to share refuses (AssertionError) past 10,000 steps."""
    if steps > WALK_LIMIT:
        raise AssertionError("Unable to find observer of previous node")


def first_input_observer(p, node: Node):
    """The observer module of the first tensor-like argument, found by walking back through
    each node's first Node argument; None if a placeholder or a non-node is reached first."""
    first = next((a for a in node.args if isinstance(a, (Node, list, tuple))), None)
    if first is None:
        return None, None
    current = first[0] if isinstance(first, (list, tuple)) else first
    steps = 0
    while not p.is_observer_node(current):
        if not isinstance(current, Node) or current.op == "placeholder":
            return None, None
        back = None
        for back in current.args:
            if isinstance(back, Node):
                break
        if back is None:
            return None, None
        current = back
        steps += 1
        walked_too_far(steps)
    return first, p.modules[current.target]


def share_input_observer(p, node: Node) -> bool:
    """The node's output observers, and the observers of the other elements of a list
    first argument (cat), become the first input's observer instance. False when the
    first input has no observer to share. The walk over a later element follows first
    arguments only, so meeting a list there (a cat of a cat that has no observer of its own)
    fails as torch's does (AttributeError)."""
    first, shared = first_input_observer(p, node)
    if shared is None:
        return False
    if isinstance(first, (list, tuple)):
        for arg in first[1:]:
            steps = 0
            while not p.is_observer_node(arg):
                if len(arg.args) < 1:
                    return False
                arg = arg.args[0]
                steps += 1
                walked_too_far(steps)
            _use(p, arg, shared)
    for user in node.users:
        if not p.is_observer_node(user):
            raise AssertionError("output_obs_node must be an activation post process node")
        _use(p, user, shared)
    return True


def _use(p, obs_node: Node, module) -> None:
    set_submodule(p.modules, obs_node.target, module)
    rule = p.rules.get(obs_node.name, "?")
    p.rules[obs_node.name] = rule if rule.endswith(" (shared)") else f"{rule} (shared)"


def remove_output_observer(p, node: Node) -> None:
    """When sharing fails, the output observers are removed and users read the node again."""
    for user in list(node.users):
        if not p.is_observer_node(user):
            raise AssertionError("output_obs_node must be an activation post process node")
        user.replace_all_uses_with(node)
        p.graph.erase_node(user)
