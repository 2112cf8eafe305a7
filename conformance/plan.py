"""The plan: a canonical, name-independent record of what prepare did to one case.

A plan is plain data (strings, tuples, dicts) so that it serialises to sorted,
reviewable text and parses back without loss. See README.md, "The plan format",
for a walk through the sections. Equal plans <=> identical observer placement.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field

SCHEMA = 2
MAGIC = "# obsconf plan"
INDENT = "    "


class PlanFormatError(ValueError):
    """A plan text that cannot be read: corrupt, hand-edited or of another schema."""


_DIGITS = re.compile(r"(\d+)")


@functools.lru_cache(maxsize=1 << 16)
def natural_key(text: str) -> tuple:
    """Sort `conv_2` before `conv_10`: digits compare as numbers. (Cached: sorting the edges
    of a plan asks for the same node names over and over; it was most of canonicalising.)"""
    return tuple(int(p) if p.isdigit() else p for p in _DIGITS.split(text))


@dataclass(frozen=True, order=True)
class Edge:
    """A value flowing from `producer` into `consumer` at `position` (`arg 0`, `arg 0[1]`,
    `kwarg dim`); the graph output is the consumer named `output`."""

    producer: str
    consumer: str
    position: str

    def __str__(self) -> str:
        return f"{self.producer} -> {self.consumer} ({self.position})"

    @classmethod
    def parse(cls, text: str) -> "Edge":
        m = re.fullmatch(r"(\S+) -> (\S+) \((.+)\)", text)
        if not m:
            raise PlanFormatError(f"not an edge: {text!r}")
        return cls(*m.groups())

    def sort_key(self) -> tuple:
        return natural_key(self.producer), natural_key(self.consumer), natural_key(self.position)


@dataclass
class Plan:
    """What prepare did to one case. Observer ids (`obs0`, ...) are assigned canonically
    by where observers sit, so they never depend on attribute names or insertion order."""

    # obs id -> observer description (class and numeric attributes)
    observers: dict[str, str] = field(default_factory=dict)
    # observed edge -> chain of observer ids, producer side first
    edges: dict[Edge, tuple[str, ...]] = field(default_factory=dict)
    # observers whose output nobody uses: (producer, chain)
    dangling: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    # groups of observer ids that are one observer instance
    sharing: list[tuple[str, ...]] = field(default_factory=list)
    # call_module target -> class after prepare
    modules: dict[str, str] = field(default_factory=dict)
    # `target.sub.path` -> observer inside a called module (QAT weight fake-quant, custom modules)
    module_observers: dict[str, str] = field(default_factory=dict)
    # the state convert reads: scalar facts
    state: dict[str, str] = field(default_factory=dict)
    # node -> qconfig text, and the same for equalization
    node_qconfigs: dict[str, str] = field(default_factory=dict)
    equalization_qconfigs: dict[str, str] = field(default_factory=dict)
    observed_nodes: tuple[str, ...] = ()
    # node -> which of its arguments convert takes for the weight and the bias (functional ops)
    weight_and_bias: dict[str, str] = field(default_factory=dict)
    # node -> its scope (`module.path ModuleClass`): convert names qparams and re-derives qconfigs by it
    scopes: dict[str, str] = field(default_factory=dict)
    # call_module target -> its `qconfig` attribute (convert builds weight observers from it)
    module_qconfigs: dict[str, str] = field(default_factory=dict)
    # preserved attribute -> its value as deepcopy and convert keep it (and as the model has it)
    preserved: dict[str, str] = field(default_factory=dict)
    # obs id -> what its qparams are derived from (prepare_pt2e's DerivedQuantizationSpec): the
    # function and the observers it reads, by id
    derived: dict[str, str] = field(default_factory=dict)
    # the graph with observers collapsed, one node a line, in graph order
    graph: tuple[str, ...] = ()
    # call_module target of a standalone module -> its own plan
    standalone: dict[str, "Plan"] = field(default_factory=dict)
    # a refusal instead of a prepared model: (exception class, its normalised message); a
    # plan that records one has no other section (the case is a negative one, tag `rejects`)
    rejection: tuple[str, str] | None = None
    # the refusing IUT's traceback and output, for `run --tb` (never written)
    rejection_detail: str = field(default="", compare=False, repr=False)

    # -- derived views -------------------------------------------------------------

    def node_names(self) -> set[str]:
        """The names of the graph's nodes that kept their own (not structural `+...` names)."""
        return {line.split(" = ", 1)[0] for line in self.graph if not line.startswith("+")}

    @property
    def graph_digest(self) -> str:
        return hashlib.sha256("\n".join(self.graph).encode()).hexdigest()

    def observer_sites(self) -> dict[str, tuple[str, int, tuple[Edge, ...]]]:
        """obs id -> (producer, depth, edges it serves); the name-free identity of an observer."""
        sites: dict[str, tuple[str, int, list[Edge]]] = {}
        for edge, chain in self.edges.items():
            for depth, obs in enumerate(chain, start=1):
                sites.setdefault(obs, (edge.producer, depth, []))[2].append(edge)
        for producer, chain in self.dangling:
            for depth, obs in enumerate(chain, start=1):
                sites.setdefault(obs, (producer, depth, []))
        return {k: (p, d, tuple(sorted(e, key=Edge.sort_key))) for k, (p, d, e) in sites.items()}

    def in_text_order(self) -> "Plan":
        """Sort this plan's lists in place into the order its text has them (a parsed
        plan's), so that equal plans compare equal (`diff.compare` answers those at once);
        returns the plan."""
        self.dangling.sort(key=lambda pc: natural_key(_dangling_line(pc)))
        self.sharing.sort(key=lambda group: natural_key(" ".join(group)))
        return self

    # -- text ------------------------------------------------------------------------

    def body_lines(self) -> list[str]:
        out: list[str] = []

        def section(title: str, lines: list[str]) -> None:
            if lines:
                out.append(f"[{title}]")
                out.extend(lines)
                out.append("")

        if self.rejection is not None:
            section("rejection", [f"exception = {self.rejection[0]}", f"message = {self.rejection[1]}"])
        # each distinct configuration once, the observers that have it on the line under it
        section("observers", _grouped(self.observers, ids_on_one_line=True))
        section(
            "edges",
            [f"{e}: {', '.join(c)}" for e, c in sorted(self.edges.items(), key=lambda kv: kv[0].sort_key())],
        )
        section("dangling", sorted(map(_dangling_line, self.dangling), key=natural_key))
        section("sharing", sorted(map(" ".join, self.sharing), key=natural_key))
        section("derived observers", _keyed_lines(self.derived))
        section("modules", [f"{k} = {v}" for k, v in sorted(self.modules.items(), key=lambda kv: natural_key(kv[0]))])
        section(
            "module observers",
            [f"{k} = {v}" for k, v in sorted(self.module_observers.items(), key=lambda kv: natural_key(kv[0]))],
        )
        section("convert state", [f"{k} = {v}" for k, v in sorted(self.state.items())])
        section("observed nodes", sorted(self.observed_nodes, key=natural_key))
        section("node qconfigs", _grouped(self.node_qconfigs))
        section("equalization qconfigs", _grouped(self.equalization_qconfigs))
        section("module qconfigs", _grouped(self.module_qconfigs, ids_on_one_line=True))
        section("weight and bias arguments", _keyed_lines(self.weight_and_bias))
        section("node scopes", _grouped(self.scopes, ids_on_one_line=True))
        section("preserved attributes", _keyed_lines(self.preserved))
        section("graph", [f"sha256 = {self.graph_digest}", *self.graph] if self.graph else [])
        for target in sorted(self.standalone, key=natural_key):
            out.append(f"[standalone {target}]")
            out.extend(INDENT + line if line else "" for line in self.standalone[target].body_lines())
            out.append("")
        while out and out[-1] == "":
            out.pop()
        return out

    def to_text(self, header: dict[str, str]) -> str:
        """The file form: a header (case, versions, a checksum of the body) and the body."""
        body = "\n".join(self.body_lines()) + "\n"
        lines = [MAGIC, f"schema = {SCHEMA}"]
        lines += [f"{k} = {v}" for k, v in header.items()]
        lines.append(f"body-sha256 = {hashlib.sha256(body.encode()).hexdigest()}")
        return "\n".join(lines) + "\n\n" + body

    def same_as(self, other: "Plan") -> bool:
        return self.body_lines() == other.body_lines()


def _dangling_line(producer_and_chain: tuple[str, tuple[str, ...]]) -> str:
    producer, chain = producer_and_chain
    return f"{producer}: {', '.join(chain)}"


def _keyed_lines(mapping: dict[str, str]) -> list[str]:
    return [f"{k} = {v}" for k, v in sorted(mapping.items(), key=lambda kv: natural_key(kv[0]))]


def _grouped(mapping: dict[str, str], ids_on_one_line: bool = False) -> list[str]:
    """One value a line (a qconfig, an observer configuration), the keys that have it
    indented under it: one a line, or all on one line."""
    by_value: dict[str, list[str]] = {}
    for key, val in mapping.items():
        by_value.setdefault(val, []).append(key)
    lines = []
    for val in sorted(by_value):
        keys = sorted(by_value[val], key=natural_key)
        lines.append(val)
        lines.extend([INDENT + " ".join(keys)] if ids_on_one_line else [INDENT + k for k in keys])
    return lines


# ---------------------------------------------------------------------------------------
# Parsing


def parse_text(text: str, source: str = "<plan>") -> tuple[dict[str, str], Plan]:
    """Parse the file form back into (header, plan); PlanFormatError names `source`."""
    head, sep, body = text.partition("\n\n")
    head_lines = head.split("\n")
    if not head_lines or head_lines[0] != MAGIC:
        raise PlanFormatError(f"{source}: not an obsconf plan (first line is not {MAGIC!r})")
    header: dict[str, str] = {}
    for line in head_lines[1:]:
        key, eq, val = line.partition(" = ")
        if not eq:
            raise PlanFormatError(f"{source}: corrupt header line {line!r}")
        header[key] = val
    schema = header.pop("schema", None)
    if schema != str(SCHEMA):
        raise PlanFormatError(
            f"{source}: plan schema {schema} but this obsconf reads schema {SCHEMA}; regenerate it with `obsconf regen`"
        )
    checksum = header.pop("body-sha256", None)
    if checksum != hashlib.sha256(body.encode()).hexdigest():
        raise PlanFormatError(
            f"{source}: body does not match its body-sha256 (edited by hand or truncated); "
            "regenerate it with `obsconf regen`"
        )
    try:
        plan = parse_body(body.split("\n"))
    except PlanFormatError as exc:
        raise PlanFormatError(f"{source}: {exc}") from None
    return header, plan


def parse_body(lines: list[str]) -> Plan:
    plan = Plan()
    sections: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.startswith("[") and line.endswith("]"):
            sections.append((line[1:-1], []))
        elif line == "":
            if sections:
                sections[-1][1].append(line)
        elif not sections:
            raise PlanFormatError(f"line outside any section: {line!r}")
        else:
            sections[-1][1].append(line)
    for title, raw in sections:
        if title.startswith("standalone "):
            nested = [ln[len(INDENT):] if ln.startswith(INDENT) else ln for ln in raw]
            plan.standalone[title[len("standalone "):]] = parse_body(nested)
            continue
        body = [ln for ln in raw if ln]
        reader = _SECTION_READERS.get(title)
        if reader is None:
            raise PlanFormatError(f"unknown section [{title}]")
        reader(plan, body)
    return plan


def _pairs(body: list[str], sep: str = " = ") -> list[tuple[str, str]]:
    out = []
    for line in body:
        key, found, val = line.partition(sep)
        if not found:
            raise PlanFormatError(f"expected 'key{sep}value', got {line!r}")
        out.append((key, val))
    return out


def _read_edges(plan: Plan, body: list[str]) -> None:
    for line in body:
        edge, found, chain = line.rpartition(": ")
        if not found:
            raise PlanFormatError(f"not an edge line: {line!r}")
        plan.edges[Edge.parse(edge)] = tuple(chain.split(", "))


def _read_grouped(body: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    current = None
    for line in body:
        if line.startswith(INDENT):
            if current is None:
                raise PlanFormatError(f"indented line before the value it belongs to: {line!r}")
            for key in line.split():
                mapping[key] = current
        else:
            current = line
    return mapping


def _read_rejection(plan: Plan, body: list[str]) -> None:
    pairs = dict(_pairs(body))
    if set(pairs) != {"exception", "message"}:
        raise PlanFormatError("[rejection] must hold exactly `exception = ...` and `message = ...`")
    plan.rejection = (pairs["exception"], pairs["message"])


def _read_graph(plan: Plan, body: list[str]) -> None:
    if not body or not body[0].startswith("sha256 = "):
        raise PlanFormatError("[graph] must start with its sha256")
    plan.graph = tuple(body[1:])
    if plan.graph_digest != body[0][len("sha256 = "):]:
        raise PlanFormatError("[graph] lines do not match their sha256")


_SECTION_READERS = {
    "observers": lambda p, b: p.observers.update(_read_grouped(b)),
    "edges": _read_edges,
    "dangling": lambda p, b: p.dangling.extend((k, tuple(v.split(", "))) for k, v in _pairs(b, ": ")),
    "sharing": lambda p, b: p.sharing.extend(tuple(line.split(" ")) for line in b),
    "derived observers": lambda p, b: p.derived.update(_pairs(b)),
    "modules": lambda p, b: p.modules.update(_pairs(b)),
    "module observers": lambda p, b: p.module_observers.update(_pairs(b)),
    "convert state": lambda p, b: p.state.update(_pairs(b)),
    "observed nodes": lambda p, b: setattr(p, "observed_nodes", tuple(b)),
    "node qconfigs": lambda p, b: p.node_qconfigs.update(_read_grouped(b)),
    "equalization qconfigs": lambda p, b: p.equalization_qconfigs.update(_read_grouped(b)),
    "module qconfigs": lambda p, b: p.module_qconfigs.update(_read_grouped(b)),
    "weight and bias arguments": lambda p, b: p.weight_and_bias.update(_pairs(b)),
    "node scopes": lambda p, b: p.scopes.update(_read_grouped(b)),
    "preserved attributes": lambda p, b: p.preserved.update(_pairs(b)),
    "graph": _read_graph,
    "rejection": _read_rejection,
}
