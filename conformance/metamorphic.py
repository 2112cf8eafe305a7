"""Metamorphic invariants: properties of observer placement that need no oracle, so
they check any IUT on generated cases.

- renaming submodules (and the mapping entries that name them) leaves the plan unchanged;
- reordering independent branches leaves the plan unchanged;
- equivalent spellings of one qconfig mapping leave the plan unchanged;
- a global None qconfig inserts no observer;
- duplicating the graph duplicates its observers, edge for edge.

On prepare_pt2e's path (generated annotations, `--path pt2e`):
- a quantizer that annotates nothing inserts no observer. (Annotating twice over is no
  invariant of prepare: the quantizer overwrites node.meta, so prepare never sees it.)

Plans of two variants are compared after mapping the first one's node names onto
the second's: each spec node knows the graph nodes it made when traced
(`GeneratedGraph.traced_nodes`).
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from models import graphs

from . import diff, generate
from .contract import Implementation
from .plan import Edge, Plan
from .runner import CaseError, produce_plan, trace_like_prepare


class InvariantBroken(AssertionError):
    """An invariant that does not hold; the message says which and how."""


# -- name maps ------------------------------------------------------------------------------------


def _traced(model, pcc) -> dict[int, list[str]]:
    trace_like_prepare(model, pcc)
    return model.traced_nodes


def name_maps(spec_a: dict, spec_b: dict, pairs: list[tuple[int, int]]) -> tuple[dict, dict]:
    """Node names of variant a -> variant b for the paired spec nodes (graph inputs and
    the output map to themselves), and per standalone module of a, the same for its graph."""
    case_a, case_b = graphs.to_case(spec_a), graphs.to_case(spec_b)
    in_a, in_b = case_a.materialise(), case_b.materialise()
    made_a, made_b = _traced(in_a.model, in_a.prepare_custom_config), _traced(in_b.model, in_b.prepare_custom_config)
    mapping = {f"x{i}": f"x{i}" for i in range(len(spec_a["graph"]["inputs"]))} | {"output": "output"}
    nested = {}
    nodes_a, nodes_b = spec_a["graph"]["nodes"], spec_b["graph"]["nodes"]
    for ia, ib in pairs:
        names_a, names_b = made_a.get(ia, []), made_b.get(ib, [])
        if len(names_a) != len(names_b):
            raise InvariantBroken(f"spec node {ia} made {names_a} in one variant, {names_b} in the other")
        mapping.update(zip(names_a, names_b))
        if nodes_a[ia]["op"] == "standalone":
            inner_a = in_a.model.get_submodule(nodes_a[ia]["name"])
            inner_b = in_b.model.get_submodule(nodes_b[ib]["name"])
            ta, tb = _traced(inner_a, None), _traced(inner_b, None)
            inner = {"x0": "x0", "output": "output"}
            for k in ta:
                inner.update(zip(ta[k], tb.get(k, [])))
            nested[nodes_a[ia]["name"]] = inner
    return mapping, nested


def _renamer(mapping: dict[str, str]) -> Callable[[str], str]:
    moved = {k: v for k, v in mapping.items() if k != v}
    if not moved:
        return lambda text: text
    # not after `.` (a qualified class or function) or `+` (the kind of an inserted node);
    # an inserted node's whole name (`+kind[...]`) is one token
    names = "|".join(re.escape(k) for k in sorted(moved, key=len, reverse=True))
    pattern = re.compile(r"(?<![\w.+])(" + names + r")(?![\w\[~])")
    return lambda text: pattern.sub(lambda m: moved[m.group(0)], text)


_GRAPH_LINE = re.compile(r"(\S+) = (\S+) (\S+?)\((.*)\)$")


def rename_plan(plan: Plan, mapping: dict[str, str], nested: dict[str, dict] | None = None) -> Plan:
    """The plan with node names (and module targets) replaced by `mapping`."""
    r = _renamer(mapping)

    def graph_line(line: str) -> str:
        m = _GRAPH_LINE.match(line)
        if not m:
            return r(line)
        name, opcode, target, args = m.groups()
        # a call_method or call_function target is an op, never a node name
        target = r(target) if opcode in ("call_module", "get_attr") else target
        return f"{r(name)} = {opcode} {target}({r(args)})"

    nested = nested or {}
    return Plan(
        observers=dict(plan.observers),
        edges={Edge(r(e.producer), r(e.consumer), e.position): c for e, c in plan.edges.items()},
        dangling=[(r(p), c) for p, c in plan.dangling],
        sharing=list(plan.sharing),
        modules={r(k): v for k, v in plan.modules.items()},
        module_observers={r(k): v for k, v in plan.module_observers.items()},
        state={k: r(v) for k, v in plan.state.items()},
        node_qconfigs={r(k): v for k, v in plan.node_qconfigs.items()},
        equalization_qconfigs={r(k): v for k, v in plan.equalization_qconfigs.items()},
        observed_nodes=tuple(r(n) for n in plan.observed_nodes),
        weight_and_bias={r(k): v for k, v in plan.weight_and_bias.items()},
        # a scope is `module.path Class`: the path is a module name too
        scopes={r(k): r(v) for k, v in plan.scopes.items()},
        module_qconfigs={r(k): v for k, v in plan.module_qconfigs.items()},
        preserved=dict(plan.preserved),
        graph=tuple(graph_line(line) for line in plan.graph),
        standalone={r(k): rename_plan(v, nested.get(k, {})) for k, v in plan.standalone.items()},
    ).in_text_order()


_HASHED = re.compile(r"\+\w+~[0-9a-f]{8}")


def align_hashed(renamed: Plan, other: Plan) -> Plan:
    """Inserted nodes (`+kind[args]`) past a length are named by a hash of their
    arguments, which renaming cannot redo, and renaming can push a name past that length:
    map each inserted node missing from `other` to the node of `other` with the same graph line."""
    def inserted(plan, names_elsewhere):
        out = {}
        for line in plan.graph:
            m = _GRAPH_LINE.match(line)
            if m and m.group(1).startswith("+") and m.group(1) not in names_elsewhere:
                out.setdefault(line.split(" = ", 1)[1], []).append(m.group(1))
        return out

    def names(plan):
        return {line.split(" = ", 1)[0] for line in plan.graph}

    for _ in range(8):  # names inside names resolve one level a round
        mine, theirs = inserted(renamed, names(other)), inserted(other, names(renamed))
        mapping = {}
        for body, found in mine.items():
            if len(found) == 1 and len(theirs.get(body, [])) == 1:
                mapping[found[0]] = theirs[body][0]
        if not mapping:
            break
        renamed = rename_plan(renamed, mapping)
    renamed.standalone = {k: align_hashed(v, other.standalone[k]) if k in other.standalone else v
                          for k, v in renamed.standalone.items()}
    return renamed


def _unordered(plan: Plan) -> Plan:
    """The plan with its graph lines sorted (graph order is not part of what reordering keeps)."""
    out = copy.copy(plan)
    out.graph = tuple(sorted(plan.graph))
    out.standalone = {k: _unordered(v) for k, v in plan.standalone.items()}
    return out


# -- variants -------------------------------------------------------------------------------------


def _map_names(config: dict, rename: Callable[[str], str]) -> dict:
    config = copy.deepcopy(config)
    mapping = config["mapping"]
    if "module_name" in mapping:
        mapping["module_name"] = [[rename(n), q] for n, q in mapping["module_name"]]
    if "regex" in mapping:
        mapping["regex"] = [[rename(p), q] for p, q in mapping["regex"]]
    return config


def renamed(spec: dict, prefix: str) -> dict:
    """Every submodule (and weight) gets `prefix` in front of its name; module_name and
    regex entries follow (regex entries are literal name prefixes, so they match the same modules)."""
    out = copy.deepcopy(spec)
    for node in out["graph"]["nodes"]:
        if "name" in node:
            node["name"] = prefix + node["name"]
    out["config"] = _map_names(spec["config"], lambda n: prefix + n)
    return out


def reordered(spec: dict, rnd: random.Random) -> tuple[dict, list[tuple[int, int]]]:
    """The same graph with its nodes in another topological order (independent branches
    swap places), and the (old, new) node pairs. Names stay with their nodes."""
    graph = spec["graph"]
    n_in, nodes = len(graph["inputs"]), graph["nodes"]
    deps = [{a - n_in for a in node["args"] if a >= n_in} for node in nodes]
    placed: list[int] = []
    ready = [i for i in range(len(nodes)) if not deps[i]]
    while ready:
        pick = ready.pop(rnd.randrange(len(ready)))
        placed.append(pick)
        ready += [j for j in range(len(nodes)) if j not in placed and j not in ready and deps[j] <= set(placed)]
    new_index = {old: new for new, old in enumerate(placed)}
    remap = lambda v: v if v < n_in else n_in + new_index[v - n_in]  # noqa: E731
    out = copy.deepcopy(spec)
    out["graph"]["nodes"] = [dict(copy.deepcopy(nodes[old]), args=[remap(a) for a in nodes[old]["args"]]) for old in placed]
    out["graph"]["outputs"]["values"] = [remap(v) for v in graph["outputs"]["values"]]
    return out, [(old, new) for new, old in enumerate(placed)]


def respelled(spec: dict, rnd: random.Random) -> list[dict]:
    """The same qconfig mapping written differently: the dict form instead of the
    QConfigMapping (or back); object_type and module_name entries in another order;
    an object_type entry holding the global qconfig for a function the mapping leaves to it."""
    variants = []
    flipped = copy.deepcopy(spec)
    flipped["config"]["mapping"]["as_dict"] = not spec["config"]["mapping"].get("as_dict", False)
    variants.append(flipped)
    shuffled = copy.deepcopy(spec)
    for key in ("object_type", "module_name"):
        if key in shuffled["config"]["mapping"]:
            rnd.shuffle(shuffled["config"]["mapping"][key])
    variants.append(shuffled)
    mapping = spec["config"]["mapping"]
    if mapping.get("base") == "empty" and "global" in mapping:
        taken = {t for t, _ in mapping.get("object_type", [])}
        # functions only: for a module class that fusion joins (Conv2d of conv-relu), torch
        # wants every part's object_type qconfig to agree, and refuses the mapping otherwise
        free = [t for t in generate._object_types(spec["graph"]) if t not in taken and "." in t
                and (not t.startswith("torch.nn.") or t.startswith("torch.nn.functional."))]
        if free:
            redundant = copy.deepcopy(spec)
            redundant["config"]["mapping"].setdefault("object_type", []).append([rnd.choice(free), mapping["global"]])
            variants.append(redundant)
    return variants


def without_qconfig(spec: dict) -> dict:
    """Only a global None qconfig, everywhere (standalone modules' own mappings included)."""
    out = copy.deepcopy(spec)
    out["config"]["mapping"] = {"base": "empty", "global": None}
    for node in out["graph"]["nodes"]:
        if node["op"] == "standalone":
            node["params"].pop("mapping", None)
    return out


def duplicated(spec: dict) -> tuple[dict, dict]:
    """(base, dup): base returns its outputs as a tuple; dup runs the base graph twice on
    the same inputs (the copy's modules named with a trailing `x`, covered by the same
    mapping entries) and returns both tuples' values. Order entries are dropped from
    both: they count calls, and the copy's calls come later."""
    base = copy.deepcopy(spec)
    base["graph"]["outputs"]["form"] = "tuple"
    base["config"]["mapping"].pop("order", None)
    graph = base["graph"]
    n_in, n = len(graph["inputs"]), len(graph["nodes"])
    shift = lambda v: v if v < n_in else v + n  # noqa: E731
    copies = []
    for node in graph["nodes"]:
        twin = dict(copy.deepcopy(node), args=[shift(a) for a in node["args"]])
        if "name" in twin:
            twin["name"] += "x"
        copies.append(twin)
    dup = copy.deepcopy(base)
    dup["graph"]["nodes"] = graph["nodes"] + copies
    outs = graph["outputs"]["values"]
    dup["graph"]["outputs"]["values"] = outs + [shift(v) for v in outs]
    mapping = dup["config"]["mapping"]
    if "module_name" in mapping:
        mapping["module_name"] += [[_twin_name(m), q] for m, q in mapping["module_name"]]
    if "output_quantized" in dup["config"]:
        dup["config"]["output_quantized"] += [i + len(outs) for i in dup["config"]["output_quantized"]]
    return base, dup


def _twin_name(name: str) -> str:
    head, dot, rest = name.partition(".")
    return head + "x" + dot + rest


# -- the checks -----------------------------------------------------------------------------------


def _plan(spec: dict, impl: Implementation) -> Plan:
    return produce_plan(graphs.to_case(spec), impl, collect=False)


def _same(name: str, expected: Plan, actual: Plan) -> None:
    differences = diff.compare(align_hashed(expected, actual), actual)
    if differences:
        raise InvariantBroken(f"{name}: " + "; ".join(differences[:5]))


def check_rename(spec: dict, impl: Implementation, prefix: str = "zz_") -> None:
    other = renamed(spec, prefix)
    a, b = _plan(spec, impl), _plan(other, impl)
    mapping, nested = name_maps(spec, other, [(i, i) for i in range(len(spec["graph"]["nodes"]))])
    _same(f"renaming submodules with prefix {prefix!r} changed the plan", rename_plan(a, mapping, nested), b)


def check_reorder(spec: dict, impl: Implementation, rnd: random.Random) -> None:
    if spec["config"]["mapping"].get("order"):
        return  # order entries count calls in graph order: reordering changes what they address
    other, pairs = reordered(spec, rnd)
    a, b = _plan(spec, impl), _plan(other, impl)
    mapping, nested = name_maps(spec, other, pairs)
    _same("reordering independent branches changed the plan", _unordered(align_hashed(rename_plan(a, mapping, nested), b)),
          _unordered(b))


def check_respell(spec: dict, impl: Implementation, rnd: random.Random) -> None:
    a = _plan(spec, impl)
    identity = [(i, i) for i in range(len(spec["graph"]["nodes"]))]
    for other in respelled(spec, rnd):
        b = _plan(other, impl)
        mapping, nested = name_maps(spec, other, identity)
        _same(f"respelling the qconfig mapping as {other['config']['mapping']} changed the plan",
              rename_plan(a, mapping, nested), b)


def _observers_anywhere(plan: Plan) -> list[str]:
    found = [str(e) for e in plan.edges] + [f"{p} (dangling)" for p, _ in plan.dangling] + list(plan.module_observers)
    for target, nested in plan.standalone.items():
        found += [f"in standalone module {target}: {x}" for x in _observers_anywhere(nested)]
    return found


def check_no_qconfig(spec: dict, impl: Implementation) -> None:
    found = _observers_anywhere(_plan(without_qconfig(spec), impl))
    if found:
        raise InvariantBroken(f"a global None qconfig still placed observers: {', '.join(found[:5])}")


def _shift_output(position: str, by: int) -> str:
    m = re.fullmatch(r"arg 0\[(\d+)\](.*)", position)
    return f"arg 0[{int(m.group(1)) + by}]{m.group(2)}" if m else position


def check_duplicate(spec: dict, impl: Implementation) -> None:
    base, dup = duplicated(spec)
    a, b = _plan(base, impl), _plan(dup, impl)
    n, k = len(base["graph"]["nodes"]), len(base["graph"]["outputs"]["values"])
    first, _ = name_maps(base, dup, [(i, i) for i in range(n)])
    second, _ = name_maps(base, dup, [(i, i + n) for i in range(n)])

    def chains(plan: Plan, mapping=None, shift=0) -> dict[Edge, list[str]]:
        r = _renamer(mapping or {})
        return {
            Edge(r(e.producer), r(e.consumer), _shift_output(e.position, shift) if e.consumer == "output" else e.position):
                [plan.observers[o] for o in chain]
            for e, chain in plan.edges.items()
        }

    # an inserted node named by a hash of its arguments cannot be matched by name: left out
    hashed = lambda e: _HASHED.search(e.producer) or _HASHED.search(e.consumer)  # noqa: E731
    expected = {e: c for e, c in (chains(a, first) | chains(a, second, k)).items() if not hashed(e)}
    actual = {e: c for e, c in chains(b).items() if not hashed(e)}
    wrong = sorted({str(e) for e in set(expected) | set(actual) if expected.get(e) != actual.get(e)})
    if wrong:
        raise InvariantBroken(f"duplicating the graph did not duplicate its observers, edge for edge: {', '.join(wrong[:5])}")
    r1, r2 = _renamer(first), _renamer(second)
    modules = {r1(t): c for t, c in a.modules.items()} | {r2(t): c for t, c in a.modules.items()}
    modules = {t: c for t, c in modules.items() if not _HASHED.search(t)}
    actual_modules = {t: c for t, c in b.modules.items() if not _HASHED.search(t)}
    if modules != actual_modules:
        raise InvariantBroken("duplicating the graph changed module swaps: "
                              f"{sorted(set(modules.items()) ^ set(actual_modules.items()))[:5]}")


def check_no_annotation(spec: dict, impl: Implementation) -> None:
    bare = {**spec, "config": {**spec["config"], "annotations": []}}
    found = _observers_anywhere(_plan(bare, impl))
    if found:
        raise InvariantBroken(f"a quantizer that annotates nothing still placed observers: {', '.join(found[:5])}")


INVARIANTS = ("rename", "reorder", "respell", "no-qconfig", "duplicate")
PT2E_INVARIANTS = ("no-annotation",)


def check_all(spec: dict, impl: Implementation, rnd: random.Random, which=INVARIANTS) -> None:
    """Every invariant on one spec; specs the IUT cannot prepare are skipped by the caller."""
    checks = {
        "rename": lambda: check_rename(spec, impl),
        "reorder": lambda: check_reorder(spec, impl, rnd),
        "respell": lambda: check_respell(spec, impl, rnd),
        "no-qconfig": lambda: check_no_qconfig(spec, impl),
        "duplicate": lambda: check_duplicate(spec, impl),
        "no-annotation": lambda: check_no_annotation(spec, impl),
    }
    for name in which:
        checks[name]()


def run_invariants(impl: Implementation, examples: int | None = None, seed: int | None = None, profile: str = "ci",
                   which=INVARIANTS, max_nodes: int = 8, shrink: bool = True,
                   path: str = "fx") -> tuple[int, str | None, dict | None]:
    """Check the invariants on generated cases of prepare's `path` that the IUT can
    prepare; (checked, the broken invariant's message or None, the (shrunk, unless
    `shrink` is False) spec or None)."""
    from hypothesis import Phase

    from .fuzz import profile_settings

    state: dict = {"checked": 0, "message": None, "spec": None}

    def check(spec, rnd_seed):
        try:
            _plan(spec, impl)
        except CaseError:
            from hypothesis import reject

            reject()
        try:
            check_all(spec, impl, random.Random(rnd_seed), which)
        except (InvariantBroken, CaseError) as exc:
            state["message"], state["spec"] = str(exc), spec
            raise
        state["checked"] += 1

    chosen = profile_settings(profile, examples, seed)
    if not shrink:
        chosen = settings(chosen, phases=[p for p in Phase if p is not Phase.shrink])
    test = chosen(
        given(generate.specs_for(path, max_nodes), st.integers(0, 2**16))(check))
    if seed is not None:
        from hypothesis import seed as hypothesis_seed

        test = hypothesis_seed(seed)(test)
    try:
        test()
    except (InvariantBroken, CaseError):
        pass
    return state["checked"], state["message"], state["spec"]

