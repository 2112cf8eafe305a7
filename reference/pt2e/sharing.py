"""Rule family: which edges and nodes share one observer. Sharing is a union-find over
the annotated edges and nodes: a SharedQuantizationSpec joins its owner to what it names
(explicit sharing), and an input edge joins the producer's other annotated edges and its
output when their specs agree (implicit sharing: they observe the same tensor)."""

from __future__ import annotations

from torch.fx import Node

from .annotations import annotation, is_shared

# the attributes two specs must agree on (or both lack) to be shared implicitly
NUMERIC_FIELDS = ("dtype", "is_dynamic", "quant_min", "quant_max", "qscheme", "ch_axis", "scale", "zero_point")


class Groups:
    """Each annotated edge or node points to a parent; a group's representative points to
    itself. Asking for the group of what nobody annotated is a KeyError naming it."""

    def __init__(self, specs: dict):
        self.specs = specs
        self.parent = {key: key for key in specs}

    def representative(self, key):
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key


def join(groups: Groups, target, sharer) -> None:
    """`sharer` shares `target`'s observer: the sharer's group joins the target's, whose
    representative stays, unless that representative's own spec is a SharedQuantizationSpec
    naming the sharer's representative, where the target's group joins the sharer's."""
    to_target, to_sharer = groups.representative(target), groups.representative(sharer)
    spec = groups.specs[to_target]
    if is_shared(spec) and spec.edge_or_node == to_sharer:
        groups.parent[to_target] = to_sharer
    else:
        groups.parent[to_sharer] = to_target


def concrete_spec(groups: Groups, spec):
    """What a SharedQuantizationSpec stands for: the spec of the representative of the group
    of what it names, followed until a spec that is not shared. Naming an edge or node that
    nobody annotated is refused (KeyError naming it), and so is a chain that comes back to
    a group it passed (RecursionError: torch follows it until the stack runs out)."""
    passed = set()
    while is_shared(spec):
        representative = groups.representative(spec.edge_or_node)
        if representative in passed:
            raise RecursionError("maximum recursion depth exceeded")
        passed.add(representative)
        spec = groups.specs[representative]
    return spec


def alike(a, b) -> bool:
    """Two specs agree when, for every numeric field, both have it with equal values or
    neither has it."""
    return all((hasattr(a, f) and hasattr(b, f) and getattr(a, f) == getattr(b, f))
               or (not hasattr(a, f) and not hasattr(b, f)) for f in NUMERIC_FIELDS)


def share_implicitly(groups: Groups, edge: tuple, spec) -> None:
    """An input edge (arg, node), when the node's annotation allows implicit sharing, joins
    the edges from arg to its other users, in their order, and then arg's output, each that
    is annotated with a spec (followed through sharing) alike to the edge's own."""
    arg, node = edge
    if not isinstance(arg, Node) or not isinstance(node, Node):
        raise Exception(f"Expected input_edge to have type Tuple[Node, Node], but got: {arg, node}")  # noqa: TRY002
    for other in [(arg, user) for user in arg.users if user is not node] + [arg]:
        if other in groups.specs:
            theirs = concrete_spec(groups, groups.specs[other])
            if theirs is not None and alike(theirs, spec):
                join(groups, other, edge)


def sharing_groups(specs: dict) -> Groups:
    """In annotation order: a node's output joins what its SharedQuantizationSpec names; an
    input edge first shares implicitly (with the spec it stood for before any joining), then
    joins what its SharedQuantizationSpec names."""
    groups = Groups(specs)
    for key, spec in specs.items():
        if not isinstance(key, Node):
            before = concrete_spec(groups, spec)
            if annotation(key[1]).allow_implicit_sharing:
                share_implicitly(groups, key, before)
        if is_shared(spec):
            join(groups, spec.edge_or_node, key)
    return groups
