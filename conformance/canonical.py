"""Canonicalise an observed GraphModule into a Plan.

Observers are recognised by class (observer, fake-quantize, equalization observer),
never by name, and identified by where they sit: the producer they observe, their
depth in the chain and the edges they serve. Nodes that prepare inserted besides
observers (the DeQuantStubs and tuple plumbing after a custom LSTM) get structural
names such as `+DeQuantStub[+getitem[lstm,0]]`, so an implementation may name them
as it likes.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable
from typing import Any

import torch
from torch.fx import GraphModule, Node

from . import describe
from .plan import Edge, Plan, natural_key

OBSERVED_ATTRS_KEY = "_observed_graph_module_attrs"
PRESERVED_KEY = "_user_preserved_attributes"  # torch.fx.graph_module._USER_PRESERVED_ATTRIBUTES_KEY
MAX_NAME = 48


def canonicalise(gm: GraphModule, original_names: Iterable[str] | None = None, given_mapping: Any = None) -> Plan:
    """The plan of an observed GraphModule.

    `original_names` are the node names the tracer gave the float model; nodes outside
    it are named structurally. None treats every node as original. `given_mapping`, the
    qconfig mapping prepare was given, lets the plan record the stored one by how it
    differs from it (a release whose default mappings differ then records the same);
    without it the plan records a digest.
    """
    return _Canonicaliser(gm, None if original_names is None else set(original_names), given_mapping).plan()


def canonicalise_within(gm: GraphModule, names: Iterable[str], given_mapping: Any = None) -> Plan | None:
    """The plan of `gm` when every node besides observers, inputs and the output bears one
    of `names`, else None. With `names` a subset of the traced names (those of a golden
    plan's graph), that plan is the one `canonicalise` gives with all the traced names:
    every node is original under both, so no trace is needed to tell."""
    canonicaliser = _Canonicaliser(gm, set(names), given_mapping)
    if any(
        not canonicaliser.is_obs[n] and n.op not in ("placeholder", "output") and n.name not in canonicaliser.original_names
        for n in canonicaliser.nodes
    ):
        return None
    return canonicaliser.plan()


class _Canonicaliser:
    def __init__(self, gm: GraphModule, original_names: set[str] | None, given_mapping: Any = None,
                 standalone: bool = False):
        self.gm = gm
        self.given_mapping = given_mapping
        self.standalone = standalone
        # remove_duplicate=False: a shared observer instance is reachable under several names
        self.modules = dict(gm.named_modules(remove_duplicate=False))
        self.original_names = original_names
        self.nodes = list(gm.graph.nodes)
        self.is_obs = {
            n: n.op == "call_module" and describe.is_observer(self.modules.get(str(n.target)))
            for n in self.nodes
        }
        self.names: dict[Node, str] = {}

    # -- naming ------------------------------------------------------------------------

    def producer_of(self, node: Node) -> tuple[Node, list[Node]]:
        """Walk back through observers: (the observed producer, the chain, producer side first)."""
        chain: list[Node] = []
        while self.is_obs[node]:
            chain.insert(0, node)
            node = node.args[0]
        return node, chain

    def name(self, node: Node) -> str:
        return self.names[self.producer_of(node)[0]]

    def assign_names(self) -> None:
        taken: set[str] = set()
        for node in self.nodes:
            if self.is_obs[node]:
                continue
            if self.original_names is None or node.name in self.original_names or node.op in ("placeholder", "output"):
                name = node.name
            else:
                name = self.structural_name(node)
            base, n = name, 2
            while name in taken:
                name, n = f"{base}#{n}", n + 1
            taken.add(name)
            self.names[node] = name

    def structural_name(self, node: Node) -> str:
        """`+kind[args]` for a node prepare inserted; past MAX_NAME characters the args
        are replaced by a hash of them (the [graph] line still shows them)."""
        args = ",".join(self.render(a, compact=True) for a in node.args)
        name = f"+{self.kind(node)}[{args}]"
        if len(name) > MAX_NAME:
            name = f"+{self.kind(node)}~{hashlib.sha1(args.encode()).hexdigest()[:8]}"
        return name

    def kind(self, node: Node) -> str:
        if node.op == "call_module":
            return describe.short_class_name(type(self.modules[str(node.target)]))
        if node.op == "call_function":
            return getattr(node.target, "__name__", str(node.target))
        return str(node.target) if node.op == "call_method" else node.op

    def render(self, arg: Any, compact: bool = False) -> str:
        """An argument as text: nodes by canonical name (through observers), constants by value."""
        sep = "," if compact else ", "
        if isinstance(arg, Node):
            return self.name(arg)
        if isinstance(arg, (list, tuple)):
            inner = sep.join(self.render(a, compact) for a in arg)
            if isinstance(arg, list):
                return f"[{inner}]"
            return f"({inner}{',' if len(arg) == 1 else ''})"
        if isinstance(arg, dict):
            return "{" + sep.join(f"{describe.value(k)}:{self.render(v, compact)}" for k, v in arg.items()) + "}"
        if isinstance(arg, slice):
            return f"slice({self.render(arg.start)},{self.render(arg.stop)},{self.render(arg.step)})"
        return describe.value(arg)

    # -- edges -------------------------------------------------------------------------

    def positions(self, node: Node) -> Iterable[tuple[str, Node]]:
        """(position, node) for every Node inside the node's args and kwargs."""

        def walk(arg: Any, path: str):
            if isinstance(arg, Node):
                yield path, arg
            elif isinstance(arg, (list, tuple)):
                for i, a in enumerate(arg):
                    yield from walk(a, f"{path}[{i}]")
            elif isinstance(arg, dict):
                for k, a in arg.items():
                    yield from walk(a, f"{path}[{describe.value(k)}]")
            elif isinstance(arg, slice):
                for part in ("start", "stop", "step"):
                    yield from walk(getattr(arg, part), f"{path}.{part}")

        for i, a in enumerate(node.args):
            yield from walk(a, f"arg {i}")
        for k, a in node.kwargs.items():
            yield from walk(a, f"kwarg {k}")

    # -- the plan ----------------------------------------------------------------------

    def plan(self) -> Plan:
        self.assign_names()
        plan = Plan()
        node_edges: dict[Edge, list[Node]] = {}
        for node in self.nodes:
            if self.is_obs[node]:
                continue
            for position, arg in self.positions(node):
                producer, chain = self.producer_of(arg)
                if chain:
                    node_edges[Edge(self.names[producer], self.names[node], position)] = chain

        served: dict[Node, list[Edge]] = {n: [] for n in self.nodes if self.is_obs[n]}
        for edge, chain in node_edges.items():
            for obs in chain:
                served[obs].append(edge)
        config = {obs: describe.observer(self.modules[str(obs.target)]) for obs in served}

        def site_key(obs: Node) -> tuple:
            producer, chain = self.producer_of(obs)
            edges = sorted(served[obs], key=Edge.sort_key)
            return (natural_key(self.names[producer]), len(chain), [e.sort_key() for e in edges], config[obs])

        ids = {obs: f"obs{i}" for i, obs in enumerate(sorted(served, key=site_key))}
        self.observer_ids = ids
        plan.observers = {ids[o]: config[o] for o in served}
        plan.edges = {e: tuple(ids[o] for o in chain) for e, chain in node_edges.items()}
        for obs, edges in served.items():
            if not edges and not any(self.is_obs[u] and not served[u] for u in obs.users):
                # the end of an unused chain: record the whole chain once
                producer, chain = self.producer_of(obs)
                plan.dangling.append((self.names[producer], tuple(ids[o] for o in chain)))

        by_instance: dict[int, list[str]] = {}
        for obs in served:
            by_instance.setdefault(id(self.modules[str(obs.target)]), []).append(ids[obs])
        plan.sharing = [tuple(sorted(g, key=natural_key)) for g in by_instance.values() if len(g) > 1]
        self.add_derived(plan, served, by_instance)

        self.add_modules(plan)
        self.add_state(plan)
        plan.graph = tuple(self.graph_line(n) for n in self.nodes if not self.is_obs[n])
        return plan.in_text_order()

    def add_derived(self, plan: Plan, served: dict, by_instance: dict[int, list[str]]) -> None:
        """For an observer whose qparams are derived from others' (prepare_pt2e's
        DerivedObserverOrFakeQuantize: a bias from its input's and weight's), the function
        and the observers it reads, by their ids in this plan."""
        for obs in served:
            module = self.modules[str(obs.target)]
            sources = getattr(module, "obs_or_fqs", None)
            if not isinstance(sources, (list, tuple)):
                continue
            read = ["+".join(sorted(by_instance.get(id(s), ["<not inserted>"]), key=natural_key)) for s in sources]
            function = describe.qualname(getattr(module, "derive_qparams_fn", None))
            plan.derived[self.observer_ids[obs]] = f"{function} of [{', '.join(read)}]"

    def add_modules(self, plan: Plan) -> None:
        for node in self.nodes:
            if node.op != "call_module" or self.is_obs[node]:
                continue
            module = self.modules[str(node.target)]
            key = str(node.target) if self.names[node] == node.name else self.names[node]
            if isinstance(module, GraphModule):
                plan.modules[key] = "torch.fx.GraphModule"
                if OBSERVED_ATTRS_KEY in module.meta:
                    plan.standalone[key] = _Canonicaliser(module, None, standalone=True).plan()
                continue
            plan.modules[key] = describe.qualname(type(module))
            for sub_name, sub in module.named_modules():
                if sub_name and describe.is_observer(sub) and not _inside_observer(sub_name, module):
                    plan.module_observers[f"{key}.{sub_name}"] = describe.observer(sub)

    def add_state(self, plan: Plan) -> None:
        self.add_weight_and_bias(plan)
        attrs = self.gm.meta.get(OBSERVED_ATTRS_KEY)
        self.add_preserved(plan, attrs)
        if attrs is None:
            plan.state["observed_graph_module_attrs"] = "missing"
            return
        config = attrs.prepare_custom_config
        plan.state["input_quantized_indexes"] = describe.value(list(getattr(config, "input_quantized_indexes", [])))
        plan.state["output_quantized_indexes"] = describe.value(list(getattr(config, "output_quantized_indexes", [])))
        # a standalone module's is not recorded: convert_standalone_module converts it without a
        # qconfig mapping, so nothing reads the one stored in it (docs/convert-inventory.md, item 5)
        if not self.standalone:
            plan.state["qconfig_mapping"] = (
                describe.mapping_changes(self.given_mapping, attrs.qconfig_mapping) if self.given_mapping is not None
                else describe.qconfig_mapping_digest(attrs.qconfig_mapping))
        scopes = attrs.node_name_to_scope or {}
        for node in self.nodes:
            if self.is_obs[node] or node.op in ("placeholder", "output"):
                continue
            scope = scopes.get(node.name)
            # prepare_pt2e's scopes name the module type as text (from nn_module_stack)
            kind = scope[1] if scope is not None and isinstance(scope[1], str) else describe.qualname(scope and scope[1])
            plan.scopes[self.names[node]] = "<absent>" if scope is None else f"{scope[0] or '<root>'} {kind}"
        plan.state["is_qat"] = describe.value(attrs.is_qat)
        plan.state["is_observed_standalone_module"] = describe.value(attrs.is_observed_standalone_module)
        plan.state["standalone_module_input_quantized_idxs"] = describe.value(
            attrs.standalone_module_input_quantized_idxs
        )
        plan.state["standalone_module_output_quantized_idxs"] = describe.value(
            attrs.standalone_module_output_quantized_idxs
        )
        plan.observed_nodes = tuple(sorted(attrs.observed_node_names, key=natural_key))
        text = describe.qconfig_describer()
        plan.node_qconfigs = {n: text(q) for n, q in attrs.node_name_to_qconfig.items()}
        for node in self.nodes:
            if node.op == "call_module" and not self.is_obs[node]:
                module = self.modules[str(node.target)]
                key = str(node.target) if self.names[node] == node.name else self.names[node]
                plan.module_qconfigs[key] = text(module.qconfig) if hasattr(module, "qconfig") else "<absent>"
        # Only nodes with an equalization qconfig: None everywhere else is the common case.
        plan.equalization_qconfigs = {
            n: text(q) for n, q in (attrs.equalization_node_name_to_qconfig or {}).items() if q is not None
        }

    def add_weight_and_bias(self, plan: Plan) -> None:
        """The argument convert takes for a node's weight and bias (`node_arg_is_weight`):
        the index in `target_dtype_info` when it names one of the node's arguments."""
        for node in self.nodes:
            info = node.meta.get("target_dtype_info") or {}
            found = []
            for role in ("weight", "bias"):
                index = info.get(f"{role}_index")
                if index is not None and index < len(node.args):
                    found.append(f"{role} arg {index}")
            if found:
                plan.weight_and_bias[self.names[node]] = ", ".join(found)

    def add_preserved(self, plan: Plan, attrs) -> None:
        """Each preserved attribute as a copy.deepcopy of the model has it (what convert then
        keeps) and, when it differs, as the model itself has it. The copy is made, not
        inferred: torch keeps them in meta["_user_preserved_attributes"], older releases in
        an ObservedGraphModule subclass."""
        kept = self.gm.meta.get(PRESERVED_KEY) or {}
        names = set(kept) | set(getattr(getattr(attrs, "prepare_custom_config", None), "preserved_attributes", []))
        names = {n for n in names if hasattr(self.gm, n) or n in kept}
        if not names:
            return
        import copy

        copied = copy.deepcopy(self.gm)
        for name in names:
            on_copy = describe.value(getattr(copied, name)) if hasattr(copied, name) else "<not kept by deepcopy>"
            on_model = describe.value(getattr(self.gm, name)) if hasattr(self.gm, name) else "<missing>"
            plan.preserved[name] = on_copy if on_copy == on_model else f"{on_copy}; on the model: {on_model}"

    def graph_line(self, node: Node) -> str:
        if node.op == "call_module":
            target = str(node.target) if self.names[node] == node.name else self.kind(node)
        elif node.op == "call_function":
            target = describe.qualname(node.target)
        else:
            target = str(node.target)
        args = ", ".join(
            itertools.chain(
                (self.render(a) for a in node.args),
                (f"{k}={self.render(v)}" for k, v in node.kwargs.items()),
            )
        )
        return f"{self.names[node]} = {node.op} {target}({args})"


def _inside_observer(sub_name: str, root: torch.nn.Module) -> bool:
    """True when an ancestor of `sub_name` is itself an observer (its inner observer is
    described as part of it)."""
    parts = sub_name.split(".")
    for i in range(1, len(parts)):
        if describe.is_observer(root.get_submodule(".".join(parts[:i]))):
            return True
    return False
