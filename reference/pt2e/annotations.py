"""Rule family: what the annotations ask for. A Quantizer writes
`node.meta["quantization_annotation"]`; prepare reads specs for edges and node outputs
from it, and refuses what it cannot place."""

from __future__ import annotations

from torch.fx import Node

ANNOTATION_KEY = "quantization_annotation"


def annotation(node: Node):
    return node.meta.get(ANNOTATION_KEY)


def edge_and_node_specs(graph) -> dict:
    """Each annotated node, in graph order, gives a spec to every edge (input, node) of its
    input_qspec_map, in the map's order, then to its own output when output_qspec is not
    None. The order matters: a group's observer is built from its first member's spec."""
    specs: dict = {}
    for node in graph.nodes:
        found = annotation(node)
        if found is None:
            continue
        for arg, spec in found.input_qspec_map.items():
            specs[(arg, node)] = spec
        if found.output_qspec is not None:
            specs[node] = found.output_qspec
    return specs


def no_tensor_kwargs(node: Node) -> None:
    """An annotated node may not take a Node in its kwargs (it would go unquantized):
    AssertionError."""

    def check(name, value):
        if isinstance(value, Node):
            raise AssertionError(f"Kwarg '{name}' contained type {type(value)} which is not supported for annotation.")
        if isinstance(value, (list, tuple)):
            for inner in value:
                check(name, inner)
        if isinstance(value, dict):
            for inner in value.values():
                check(name, inner)

    for name, value in node.kwargs.items():
        check(name, value)


def output_is_a_tensor(node: Node) -> bool:
    """A node's output is observed only when export recorded it as one tensor (a FakeTensor
    in meta["val"]), not a list or tuple of them."""
    from torch._subclasses import FakeTensor

    return isinstance(node.meta.get("val"), FakeTensor)


def writes_a_buffer(node: Node, arg: Node, buffer_names: set[str]) -> bool:
    """The first argument of an in-place op (its schema writes it) that depends on no graph
    input and reaches a module buffer is a buffer being mutated: it is not observed."""
    schema = getattr(node.target, "_schema", None)
    if node.op != "call_function" or schema is None or not node.args or node.args[0] is not arg:
        return False
    if not schema.arguments or not schema.arguments[0].alias_info or not schema.arguments[0].alias_info.is_write:
        return False
    producers, frontier = [arg], [arg]
    while frontier:  # back through top-level Node arguments, not past a getattr call
        current = frontier.pop()
        for back in [*current.args, *current.kwargs.values()]:
            if not isinstance(back, Node):
                continue
            if back.op == "placeholder":
                return False  # it depends on a graph input
            producers.append(back)
            if not (back.op == "call_function" and back.target is getattr):
                frontier.append(back)
    return any(p.op == "get_attr" and str(p.target) in buffer_names for p in producers)


def is_shared(spec) -> bool:
    return type(spec).__name__ == "SharedQuantizationSpec"
