"""Rule family: inserting the observers, one pass over the graph's nodes as annotated."""

from __future__ import annotations

from torch.fx import Node

from .annotations import annotation, no_tensor_kwargs, output_is_a_tensor, writes_a_buffer

FROM_NODE_KEY = "from_node"  # torchao's numeric debugging: an output observer carries its node's


class Insertion:
    """The graph being observed, its modules by name (kept up to date, never rebuilt), the
    instance of every annotated edge and node, and the rule behind each inserted node."""

    def __init__(self, model, instances: dict, device):
        self.model, self.graph, self.instances, self.device = model, model.graph, instances, device
        self.modules = dict(model.named_modules(remove_duplicate=False))
        self.buffers = {name for name, _ in model.named_buffers(remove_duplicate=False)}
        self.rules: dict[str, str] = {}
        self.asked_by: dict[str, str] = {}
        self.next_index = 0

    def is_observer_node(self, node) -> bool:
        from torchao.quantization.pt2e.observer import _is_activation_post_process

        return isinstance(node, Node) and node.op == "call_module" and _is_activation_post_process(
            self.modules[str(node.target)])

    def insert(self, after: Node, instance, rule: str, asked_by: str) -> Node:
        if self.device is not None:
            instance.to(self.device)
        while hasattr(self.model, f"activation_post_process_{self.next_index}"):
            self.next_index += 1
        name = f"activation_post_process_{self.next_index}"
        setattr(self.model, name, instance)
        self.modules[name] = instance
        with self.graph.inserting_after(after):
            node = self.graph.create_node("call_module", name, (after,), {})
        self.rules[node.name], self.asked_by[node.name] = rule, asked_by
        return node


def observe_annotated_nodes(p: Insertion) -> None:
    """In graph order, each annotated node (as it was before any insertion) gets its input
    observers, then, when its output is a tensor, its output observer."""
    for node in list(p.graph.nodes):
        if annotation(node) is None:
            continue
        new_args = tuple(observe_input(p, node, arg) for arg in node.args)
        no_tensor_kwargs(node)
        node.args = new_args
        if output_is_a_tensor(node) and node in p.instances:
            observe_output(p, node)


def observe_input(p: Insertion, node: Node, arg):
    """An argument (each element of a list or tuple) read on an annotated edge gets that
    edge's instance, unless the edge has none, writes a buffer, or the producer's output
    observer is that instance already; an observer node of that instance already after the
    argument is reused; else a new observer node is inserted after the argument."""
    if isinstance(arg, (list, tuple)):
        return type(arg)(observe_input(p, node, a) for a in arg)
    if not isinstance(arg, Node):
        return arg
    producer = arg
    while p.is_observer_node(producer):
        producer = producer.args[0]
    edge = (producer, node)
    instance = p.instances.get(edge)
    if edge not in p.instances or writes_a_buffer(node, producer, p.buffers) or instance is None:
        return arg
    if p.instances.get(producer) is instance:
        return arg
    for user in arg.users:
        if p.is_observer_node(user) and p.modules[str(user.target)] is instance:
            return user
    spec = annotation(node).input_qspec_map[producer]
    return p.insert(arg, instance, "annotated-input", f"{node.name}'s input_qspec_map[{producer.name}]: "
                                                      f"{type(spec).__name__}")


def observe_output(p: Insertion, node: Node) -> Node:
    """An annotated output gets its instance in a node after it, which every other user
    then reads instead (and which carries the node's numeric-debugging handle)."""
    spec = annotation(node).output_qspec
    observer = p.insert(node, p.instances[node], "annotated-output", f"{node.name}'s output_qspec: {type(spec).__name__}")
    if FROM_NODE_KEY in node.meta:
        observer.meta[FROM_NODE_KEY] = node.meta[FROM_NODE_KEY]
    for user in list(node.users):
        if user is not observer:
            user.replace_input_with(node, observer)
    return observer
