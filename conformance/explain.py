"""`obsconf explain`: for every observed edge, the rule of the reference that put each
observer there, with the rule stated as its docstring states it."""

from __future__ import annotations

import inspect

from torch.fx import GraphModule

from .canonical import _Canonicaliser
from .plan import Edge
from .runner import CaseError, Refused, original_node_names, release_torch_caches, run_iut


def rule_key(recorded: str) -> tuple[str, bool]:
    """('input', shared?) from a recorded rule such as 'input (shared)'."""
    return recorded.replace(" (shared)", ""), recorded.endswith(" (shared)")


def explain_module(gm: GraphModule, names, rules_key: str, indent: str = "",
                   asked_key: str | None = None) -> tuple[list[str], set[str]]:
    """Lines for every observed edge of `gm` and the rules used; with `asked_key`, each
    observer also names the annotation that asked for it (the pt2e path)."""
    rules = gm.meta.get(rules_key)
    asked = gm.meta.get(asked_key, {}) if asked_key else {}
    if rules is None:
        raise CaseError("this implementation records no rules (explain works with --impl reference)")
    canon = _Canonicaliser(gm, None if names is None else set(names))
    plan = canon.plan()
    node_of = {obs_id: node for node, obs_id in canon.observer_ids.items()}
    lines, used = [], set()
    for edge in sorted(plan.edges, key=Edge.sort_key):
        parts = []
        for obs_id in plan.edges[edge]:
            key, shared = rule_key(rules.get(node_of[obs_id].name, "?"))
            used.add(key)
            if shared:
                used.add("shared")
            cls = plan.observers[obs_id].split("(")[0].rsplit(".", 1)[-1]
            why = asked.get(node_of[obs_id].name)
            parts.append(f"{obs_id} {cls} <- {key}{' + shared' if shared else ''}{f' [{why}]' if why else ''}")
        lines.append(f"{indent}{edge.producer} -> {edge.consumer} ({edge.position}): {'; '.join(parts)}")
    for target in sorted(plan.standalone):
        lines.append(f"{indent}standalone module {target}:")
        inner, inner_used = explain_module(gm.get_submodule(target), None, rules_key, indent + "    ")
        lines += inner
        used |= inner_used
    return lines, used


def refusing_rule(frames) -> str:
    """The rule of the reference that refused: the innermost frame of its traceback that is
    a rule (a function of a reference module with a docstring; a refusal raised by torch
    code a rule calls, such as the fuser, is that rule's), as `name: statement [file:function]`."""
    import importlib
    from pathlib import Path

    import reference

    root = Path(inspect.getfile(reference)).parent
    packages = {root: "reference", root / "pt2e": "reference.pt2e"}  # the fx rules, the pt2e rules
    for filename, function in reversed(frames):
        path = Path(filename)
        if path.parent not in packages:
            continue
        func = getattr(importlib.import_module(f"{packages[path.parent]}.{path.stem}"), function, None)
        if not inspect.isfunction(func) or not inspect.getdoc(func):
            continue  # a helper nested in a rule (or a generator of one): the rule is further out
        statement = " ".join(inspect.getdoc(func).split())
        where = path.relative_to(root.parent).as_posix()
        return f"{function}: {statement} [{where}:{function}]"
    return "(no rule of the reference: raised outside it)"


def explain(case, impl) -> list[str]:
    """Lines: one per observed edge, then the statement of every rule used; for a refusal,
    what was raised and the rule that raised it."""
    import reference

    if case.path == "pt2e":
        import reference.pt2e

        rules = reference.pt2e  # the annotation rules
    else:
        rules = reference
    try:
        gm = run_iut(case, impl)
    except Refused as exc:
        return [f"refused: {exc.rejection[0]}: {exc.rejection[1]}", "", "rule:", f"  {refusing_rule(exc.frames)}"]
    try:
        lines, used = explain_module(gm, original_node_names(case), rules.RULES_KEY,
                                     asked_key=getattr(rules, "ASKED_BY_KEY", None))
    finally:
        del gm
        release_torch_caches()
    if not lines:
        lines.append("no observed edge")
    lines.append("")
    lines.append("rules:")
    for key in sorted(used):
        func = rules.RULES.get(key)
        if func is None:
            lines.append(f"  {key}: (unknown rule)")
            continue
        where = f"{inspect.getmodule(func).__name__.replace('.', '/')}.py:{func.__name__}"
        statement = " ".join(inspect.getdoc(func).split())
        lines.append(f"  {key}: {statement} [{where}]")
    return lines
