"""Compare two plans and say each difference in the user's terms.

The differ never compares observer ids: it compares what sits on each edge, which
edges one observer node serves, which observer nodes are one instance, and so on.
One fault yields one line: differences caused by the same observer instance are
reported together.
"""

from __future__ import annotations

import re

from collections import defaultdict

from . import describe
from .outcome import REJECTION_MATCHES
from .plan import Edge, Plan, natural_key


def compare(expected: Plan, actual: Plan, prefix: str = "", rejections: str = "message") -> list[str]:
    """Every difference between the expected (golden) plan and the actual one. A refusal
    matches one of the same exception class whose message contains the recorded one
    (`rejections="class"`: the class alone)."""
    if expected.rejection is not None or actual.rejection is not None:
        return [prefix + line for line in _rejection(expected.rejection, actual.rejection, rejections)]
    if expected == actual:  # most cases conform: equal fields (compared in C) need no walk
        return []
    return [prefix + line for line in differences(expected, actual)]


def differences(expected: Plan, actual: Plan) -> list[str]:
    """Every difference between two plans of accepted cases, walked field by field (none
    for equal plans: `compare` answers those without the walk)."""
    out: list[str] = []
    matched = _edges(expected, actual, out)
    _observer_nodes(expected, actual, matched, out)
    _sharing(expected, actual, out)
    _derived(expected, actual, out)
    _dangling(expected, actual, out)
    _modules(expected, actual, out)
    _state(expected, actual, out)
    _graph(expected, actual, out)
    for target in sorted(set(expected.standalone) | set(actual.standalone), key=natural_key):
        if target not in actual.standalone:
            out.append(f"standalone module {target} was not prepared as a standalone module")
        elif target not in expected.standalone:
            out.append(f"unexpected standalone module {target}")
        else:
            out.extend(compare(expected.standalone[target], actual.standalone[target], f"in standalone module {target}: "))
    return out


def _rejection(expected: tuple[str, str] | None, actual: tuple[str, str] | None, match: str) -> list[str]:
    """The one line a refusal gives: accepted, refused though accepted, or refused otherwise."""
    if match not in REJECTION_MATCHES:
        raise ValueError(f"rejections must be one of {REJECTION_MATCHES}, not {match!r}")
    if actual is None:
        return [f"accepts what the oracle rejects: {expected[0]}: {expected[1]}"]
    if expected is None:
        return [f"rejects what the oracle accepts: {actual[0]}: {actual[1]}"]
    recorded = expected[1].removesuffix("...")  # a message cut at describe.MAX_MESSAGE
    if expected[0] == actual[0] and (match == "class" or recorded in actual[1]):
        return []
    return [f"rejects differently: {expected[0]}: {expected[1]} != {actual[0]}: {actual[1]}"]


# -- edges and observers ---------------------------------------------------------------


def _short(config: str) -> str:
    return describe.parse_call(config)[0].rsplit(".", 1)[-1]


def _instance_of(plan: Plan) -> dict[str, str]:
    """obs id -> a representative id of its observer instance."""
    rep = {k: k for k in plan.observers}
    for group in plan.sharing:
        for obs in group:
            rep[obs] = group[0]
    return rep


def _where(edges: list[Edge]) -> str:
    edges = sorted(set(edges), key=Edge.sort_key)
    if len(edges) == 1:
        return str(edges[0])
    producers = {e.producer for e in edges}
    if len(producers) == 1:
        inner = ", ".join(f"{e.consumer} ({e.position})" for e in edges)
        return f"{edges[0].producer} -> {{{inner}}}"
    return "{" + ", ".join(str(e) for e in edges) + "}"


def _edges(expected: Plan, actual: Plan, out: list[str]) -> set[Edge]:
    """Report edges whose observer chains differ; return the edges whose chains match."""
    exp_inst, act_inst = _instance_of(expected), _instance_of(actual)
    # (message template, group) -> edges; grouping merges one fault seen on many edges
    grouped: dict[tuple[str, str], list[Edge]] = defaultdict(list)
    matched: set[Edge] = set()
    for edge in sorted(set(expected.edges) | set(actual.edges), key=Edge.sort_key):
        exp_ids = expected.edges.get(edge, ())
        act_ids = actual.edges.get(edge, ())
        exp_cfg = [expected.observers[o] for o in exp_ids]
        act_cfg = [actual.observers[o] for o in act_ids]
        if exp_cfg == act_cfg:
            matched.add(edge)
            continue
        if len(exp_cfg) == len(act_cfg):
            for i, (e, a) in enumerate(zip(exp_cfg, act_cfg)):
                if e != a:
                    which = "observer" if len(exp_cfg) == 1 else f"observer {i + 1} of {len(exp_cfg)}"
                    detail = "; ".join(describe.attribute_differences(e, a))
                    grouped[(f"{which} on {{where}}: {detail}", "e" + exp_inst[exp_ids[i]])].append(edge)
            continue
        missing, extra = _align(exp_cfg, act_cfg)
        if missing is None:
            shown = lambda cfgs: "[" + ", ".join(_short(c) for c in cfgs) + "]"  # noqa: E731
            grouped[(f"observers on {{where}} differ: {shown(exp_cfg)} != {shown(act_cfg)}", "")].append(edge)
            continue
        for i in missing:
            grouped[(f"missing observer on {{where}} [{_short(exp_cfg[i])}]", "e" + exp_inst[exp_ids[i]])].append(edge)
        for i in extra:
            grouped[(f"extra observer on {{where}} [{_short(act_cfg[i])}]", "a" + act_inst[act_ids[i]])].append(edge)
    for (template, _group), edges in grouped.items():
        out.append(template.format(where=_where(edges)))
    return matched


def _align(expected: list[str], actual: list[str]) -> tuple[list[int] | None, list[int]]:
    """Indexes missing from `actual` (or extra in it) when one chain is a subsequence of
    the other; (None, []) when the chains cannot be aligned that way."""
    short, long_, is_missing = (actual, expected, True) if len(actual) < len(expected) else (expected, actual, False)
    picked, j = [], 0
    for i, item in enumerate(long_):
        if j < len(short) and short[j] == item:
            j += 1
        else:
            picked.append(i)
    if j != len(short):
        return None, []
    return (picked, []) if is_missing else ([], picked)


def _site_label(site: tuple[str, int, tuple[Edge, ...]]) -> str:
    producer, depth, edges = site
    where = _where(list(edges)) if edges else f"{producer} (unused)"
    return where if depth == 1 else f"{where} #{depth}"


def _node_partition(plan: Plan, edges: set[Edge]) -> dict[tuple[str, int], set[frozenset[Edge]]]:
    """(producer, depth) -> the sets of matched edges that one observer node serves."""
    parts: dict[tuple[str, int], set[frozenset[Edge]]] = defaultdict(set)
    for producer, depth, served in plan.observer_sites().values():
        kept = frozenset(e for e in served if e in edges)
        if kept:
            parts[(producer, depth)].add(kept)
    return parts


def _observer_nodes(expected: Plan, actual: Plan, matched: set[Edge], out: list[str]) -> None:
    """Same observers on every edge, but one node serving several edges versus one node each."""
    exp, act = _node_partition(expected, matched), _node_partition(actual, matched)
    for key in sorted(set(exp) | set(act), key=lambda k: (natural_key(k[0]), k[1])):
        if exp.get(key, set()) != act.get(key, set()):
            shown = lambda parts: " + ".join(sorted(_where(list(p)) for p in parts))  # noqa: E731
            producer, depth = key
            at = producer if depth == 1 else f"{producer} #{depth}"
            out.append(
                f"observer nodes differ at {at}: expected {shown(exp.get(key, set()))}, got {shown(act.get(key, set()))}"
            )


def _sharing(expected: Plan, actual: Plan, out: list[str]) -> None:
    """Which observer nodes are one instance, over the nodes both plans have."""
    exp_sites = {o: _site_label(s) for o, s in expected.observer_sites().items()}
    act_sites = {o: _site_label(s) for o, s in actual.observer_sites().items()}
    common = set(exp_sites.values()) & set(act_sites.values())

    def groups(plan: Plan, sites: dict[str, str]) -> dict[str, frozenset[str]]:
        member: dict[str, frozenset[str]] = {}
        for group in plan.sharing:
            labels = frozenset(sites[o] for o in group if sites.get(o) in common)
            for label in labels:
                member[label] = labels
        return {label: member.get(label, frozenset({label})) for label in common}

    exp_g, act_g = groups(expected, exp_sites), groups(actual, act_sites)
    reported: set[str] = set()
    for label in sorted(common, key=natural_key):
        if label in reported or exp_g[label] == act_g[label]:
            continue
        cluster, frontier = set(), {label}
        while frontier:
            item = frontier.pop()
            cluster.add(item)
            frontier |= (exp_g[item] | act_g[item]) - cluster
        reported |= cluster

        def show(g: dict[str, frozenset[str]]) -> str:
            parts = {g[item] for item in cluster}
            return " + ".join(sorted("{" + ", ".join(sorted(p, key=natural_key)) + "}" for p in parts))

        out.append(f"sharing differs: expected {show(exp_g)}, got {show(act_g)}")


def _derived(expected: Plan, actual: Plan, out: list[str]) -> None:
    """What each derived observer reads (prepare_pt2e's DerivedQuantizationSpec), with
    observers named by where they sit, not by their plan ids."""

    def by_site(plan: Plan) -> dict[str, str]:
        labels = {o: _site_label(s) for o, s in plan.observer_sites().items()}
        ids = re.compile(r"\bobs\d+\b")
        return {labels.get(o, o): ids.sub(lambda m: "{" + labels.get(m.group(0), m.group(0)) + "}", text)
                for o, text in plan.derived.items()}

    if not expected.derived and not actual.derived:
        return
    # an observer one plan lacks is already a line of its own
    both = ({_site_label(s) for s in expected.observer_sites().values()}
            & {_site_label(s) for s in actual.observer_sites().values()})
    exp, act = by_site(expected), by_site(actual)
    _keyed({k: v for k, v in exp.items() if k in both}, {k: v for k, v in act.items() if k in both}, out,
           extra=lambda k, a: f"observer on {k} is derived ({a}), not observed",
           missing=lambda k, e: f"observer on {k} is not derived from others ({e})",
           changed=lambda k, e, a: f"observer on {k} is derived otherwise: {e} != {a}")


def _dangling(expected: Plan, actual: Plan, out: list[str]) -> None:
    def chains(plan: Plan) -> list[tuple[str, tuple[str, ...]]]:
        return sorted((p, tuple(plan.observers[o] for o in c)) for p, c in plan.dangling)

    exp, act = chains(expected), chains(actual)
    missing = []
    for producer, chain in exp:
        if (producer, chain) in act:
            act.remove((producer, chain))
        else:
            missing.append((producer, chain))
    for producer, chain in missing:
        # the same producer and classes with other attributes: say which attributes
        twin = next((a for a in act if a[0] == producer and [_short(c) for c in a[1]] == [_short(c) for c in chain]), None)
        if twin is not None:
            act.remove(twin)
            details = ["; ".join(describe.attribute_differences(e, a)) for e, a in zip(chain, twin[1]) if e != a]
            out.append(f"unused observer on {producer}: {'; '.join(details)}")
        else:
            out.append(f"missing unused observer on {producer} [{', '.join(_short(c) for c in chain)}]")
    for producer, chain in act:
        out.append(f"extra unused observer on {producer} [{', '.join(_short(c) for c in chain)}]")


# -- modules, state, graph -------------------------------------------------------------------


def _keyed(expected: dict, actual: dict, out: list[str], extra, missing, changed) -> None:
    """Report each key whose value differs, through the three message makers."""
    for key in sorted(set(expected) | set(actual), key=natural_key):
        e, a = expected.get(key), actual.get(key)
        if e != a:
            out.append(extra(key, a) if e is None else missing(key, e) if a is None else changed(key, e, a))


def _modules(expected: Plan, actual: Plan, out: list[str]) -> None:
    _keyed(
        expected.modules,
        actual.modules,
        out,
        extra=lambda k, a: f"extra module {k}: {a}",
        missing=lambda k, e: f"missing module {k}: {e}",
        changed=lambda k, e, a: f"module swap differs at {k}: {describe.short_or_full(e, a)}",
    )
    _keyed(
        expected.module_observers,
        actual.module_observers,
        out,
        extra=lambda k, a: f"extra observer inside module: {k} [{_short(a)}]",
        missing=lambda k, e: f"missing observer inside module: {k} [{_short(e)}]",
        changed=lambda k, e, a: f"observer inside module {k}: {'; '.join(describe.attribute_differences(e, a))}",
    )


def _state(expected: Plan, actual: Plan, out: list[str]) -> None:
    for key in sorted(set(expected.state) | set(actual.state)):
        e, a = expected.state.get(key, "<absent>"), actual.state.get(key, "<absent>")
        if e != a:
            out.append(f"convert state {key}: {e} != {a}")
    exp_obs, act_obs = set(expected.observed_nodes), set(actual.observed_nodes)
    if exp_obs != act_obs:
        parts = []
        if exp_obs - act_obs:
            parts.append("missing " + ", ".join(sorted(exp_obs - act_obs, key=natural_key)))
        if act_obs - exp_obs:
            parts.append("extra " + ", ".join(sorted(act_obs - exp_obs, key=natural_key)))
        out.append(f"convert state observed_node_names: {'; '.join(parts)}")
    for key in sorted(set(expected.weight_and_bias) | set(actual.weight_and_bias), key=natural_key):
        e, a = expected.weight_and_bias.get(key, "none"), actual.weight_and_bias.get(key, "none")
        if e != a:
            out.append(f"weight and bias arguments of {key} (target_dtype_info): {e} != {a}")
    # one line for all preserved attributes, one for all scopes: one fault touches them all
    changed = [f"{key}: {expected.preserved.get(key, '<not preserved>')} != {actual.preserved.get(key, '<not preserved>')}"
               for key in sorted(set(expected.preserved) | set(actual.preserved), key=natural_key)
               if expected.preserved.get(key) != actual.preserved.get(key)]
    if changed:
        out.append(f"preserved attributes differ: {'; '.join(changed)}")
    changed = [f"{key}: {expected.scopes.get(key, '<absent>')} != {actual.scopes.get(key, '<absent>')}"
               for key in sorted(set(expected.scopes) | set(actual.scopes), key=natural_key)
               if expected.scopes.get(key) != actual.scopes.get(key)]
    if changed:
        shown = "; ".join(changed[:3]) + (f"; ... ({len(changed)} nodes)" if len(changed) > 3 else "")
        out.append(f"node scopes (node_name_to_scope) differ: {shown}")
    for title, exp_map, act_map in (
        ("qconfig", expected.node_qconfigs, actual.node_qconfigs),
        ("equalization qconfig", expected.equalization_qconfigs, actual.equalization_qconfigs),
        ("qconfig attribute", expected.module_qconfigs, actual.module_qconfigs),
    ):
        by_change: dict[tuple[str, str], list[str]] = defaultdict(list)
        for node in set(exp_map) | set(act_map):
            e, a = exp_map.get(node, "<absent>"), act_map.get(node, "<absent>")
            if e != a:
                by_change[(e, a)].append(node)
        for (e, a), nodes in sorted(by_change.items()):
            nodes.sort(key=natural_key)
            shown = ", ".join(nodes[:5]) + (f", ... ({len(nodes)} nodes)" if len(nodes) > 5 else "")
            detail = "; ".join(describe.attribute_differences(e, a)) if "(" in e and "(" in a else f"{e} != {a}"
            out.append(f"{title} of {{{shown}}} differs: {detail}")


def _graph(expected: Plan, actual: Plan, out: list[str]) -> None:
    if expected.graph_digest == actual.graph_digest:
        return

    def split(lines: tuple[str, ...]) -> dict[str, str]:
        return dict(line.split(" = ", 1) for line in lines)

    exp, act = split(expected.graph), split(actual.graph)
    before = len(out)
    for name in exp:
        if name not in act:
            out.append(f"graph rewired: node {name} is missing ({exp[name]})")
        elif exp[name] != act[name]:
            out.append(f"graph rewired: {name}: {exp[name]} != {act[name]}")
    for name in act:
        if name not in exp:
            out.append(f"graph rewired: extra node {name} = {act[name]}")
    if len(out) == before:
        first = next(e.split(" = ", 1)[0] for e, a in zip(expected.graph, actual.graph) if e != a)
        out.append(f"graph rewired: same nodes in another order (first at {first})")
