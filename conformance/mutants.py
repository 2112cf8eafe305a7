"""Mutants of the installed prepare.py (torch's fx/prepare.py, or torchao's pt2e/prepare.py:
a Target), for `obsconf strength`.

A mutant is one small change to one spot of the source, made on its syntax tree so that
line numbers stay those of the file. Each operator below is one small function whose
docstring states the change; `generate` walks the module once and asks every operator
what it would make of every node. `load` compiles a mutant into a fresh module object
that is never registered in sys.modules and never written to disk: site-packages is not
touched, and the mutant's relative imports resolve to the real torch package.

Not mutated (each choice keeps noise out of the score, not bugs in):
  - messages and errors: anything inside `raise`, `assert`, f-strings, string constants;
  - calls to `warnings.warn`, loggers and torch's API-usage logging;
  - type annotations, docstrings, `__all__` and `if TYPE_CHECKING:` blocks.
"""

from __future__ import annotations

import ast
import hashlib
import io
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

@dataclass(frozen=True)
class Target:
    """A prepare.py to mutate: its module, and the (module, attribute) through which the
    rest of the library calls its `prepare` (where a mutant's is put)."""

    name: str
    module: str
    entry: tuple[str, str]
    shown: str  # the file as a report names it


FX = Target("fx", "torch.ao.quantization.fx.prepare", ("torch.ao.quantization.quantize_fx", "prepare"),
            "torch/ao/quantization/fx/prepare.py")
PT2E = Target("pt2e", "torchao.quantization.pt2e.prepare", ("torchao.quantization.pt2e.quantize_pt2e", "prepare"),
              "torchao/quantization/pt2e/prepare.py")
TARGETS = {t.name: t for t in (FX, PT2E)}
PREPARE_MODULE = FX.module

# Calls whose removal cannot change placement: they only warn or log.
_QUIET_CALLS = ("warnings.warn", "warn", "logger.", "log.", "_log.", "torch._C._log_api_usage_once")


@dataclass(frozen=True)
class Mutant:
    """One change at one spot: `operator` applied to the node of type `node_type` that spans
    `span` (line, column, end line, end column), variant `variant` of what it makes."""

    operator: str
    node_type: str
    span: tuple[int, int, int, int]
    variant: int
    function: str
    statement: int  # first line of the innermost statement holding the spot (what coverage records)
    scope: tuple[int, int]  # first and last line of the enclosing function; (0, 0) at module level
    original: str
    mutated: str

    @property
    def line(self) -> int:
        return self.span[0]

    @property
    def id(self) -> str:
        return f"{self.operator}@{self.span[0]}:{self.span[1]}#{self.variant}"

    def describe(self) -> str:
        return f"{self.id} in {self.function}: {self.original} -> {self.mutated}"


# -- operators ------------------------------------------------------------------------------
# Each takes a node and the (parent node, field name) it hangs from and returns the nodes
# that may replace it, in a fixed order (the variant is the index). Statement-level
# operators return statements.

_CONDITION_PARENTS = (ast.If, ast.While, ast.IfExp)


def negate_condition(node, parent, field) -> list[ast.AST]:
    """The condition of an `if`, `while` or conditional expression is negated."""
    if isinstance(parent, _CONDITION_PARENTS) and field == "test":
        return [ast.UnaryOp(op=ast.Not(), operand=node)]
    return []


def drop_condition(node, parent, field) -> list[ast.AST]:
    """The condition of an `if` (or conditional expression) is dropped: its guarded branch always runs."""
    if isinstance(parent, (ast.If, ast.IfExp)) and field == "test":
        return [ast.Constant(value=True)]
    return []


def drop_operand(node, parent, field) -> list[ast.AST]:
    """One operand of an `and` / `or` is dropped (one mutant per operand)."""
    if not isinstance(node, ast.BoolOp):
        return []
    made = []
    for index in range(len(node.values)):
        rest = node.values[:index] + node.values[index + 1:]
        made.append(rest[0] if len(rest) == 1 else ast.BoolOp(op=node.op, values=rest))
    return made


def swap_boolean_operator(node, parent, field) -> list[ast.AST]:
    """`and` becomes `or` and `or` becomes `and`."""
    if not isinstance(node, ast.BoolOp):
        return []
    return [ast.BoolOp(op=ast.Or() if isinstance(node.op, ast.And) else ast.And(), values=node.values)]


_COMPARISON_SWAPS = {
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn,
    ast.NotIn: ast.In, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
}


def swap_comparison(node, parent, field) -> list[ast.AST]:
    """A comparison operator becomes its opposite (`==`/`!=`, `is`/`is not`, `in`/`not in`)
    or its boundary twin (`<`/`<=`, `>`/`>=`)."""
    if not isinstance(node, ast.Compare) or len(node.ops) != 1:
        return []
    return [ast.Compare(left=node.left, ops=[_COMPARISON_SWAPS[type(node.ops[0])]()], comparators=node.comparators)]


def flip_boolean_constant(node, parent, field) -> list[ast.AST]:
    """A literal `True` becomes `False` and `False` becomes `True`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return [ast.Constant(value=not node.value)]
    return []


def off_by_one(node, parent, field) -> list[ast.AST]:
    """An integer literal (an index, a count, a position) is one more, or one less."""
    if isinstance(node, ast.Constant) and type(node.value) is int and not isinstance(parent, ast.UnaryOp):
        return [ast.Constant(value=node.value + 1), ast.Constant(value=node.value - 1)]
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant)
            and type(node.operand.value) is int):
        return [ast.Constant(value=-node.operand.value + 1), ast.Constant(value=-node.operand.value - 1)]
    return []


def _is_plain_element(node) -> bool:
    return isinstance(node, (ast.Name, ast.Attribute, ast.Constant)) and not (
        isinstance(node, ast.Constant) and isinstance(node.value, str))


def drop_element(node, parent, field) -> list[ast.AST]:
    """One element is dropped from a literal list, tuple or set of names, dtypes or constants
    (the dtype lists, the sets of ops, the types an isinstance accepts)."""
    if not isinstance(node, (ast.List, ast.Tuple, ast.Set)) or len(node.elts) < 2:
        return []
    if isinstance(getattr(node, "ctx", None), ast.Store) or not all(_is_plain_element(e) for e in node.elts):
        return []
    made = []
    for index in range(len(node.elts)):
        rest = node.elts[:index] + node.elts[index + 1:]
        made.append(type(node)(elts=rest, ctx=ast.Load()) if not isinstance(node, ast.Set) else ast.Set(elts=rest))
    return made


def remove_call(node, parent, field) -> list[ast.AST]:
    """A call made for its effect (a statement that is only a call) is removed."""
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):  # warnings and logging never get here
        return [ast.Pass()]
    return []


def early_return(node, parent, field) -> list[ast.AST]:
    """A function returns None at once, before its first statement."""
    if not isinstance(node, ast.FunctionDef):
        return []
    body = list(node.body)
    keep = body[:1] if body and _is_docstring(body[0]) else []
    mutated = ast.FunctionDef(name=node.name, args=node.args, body=keep + [ast.Return(value=None)] + body[len(keep):],
                              decorator_list=node.decorator_list, returns=node.returns, type_comment=None,
                              type_params=getattr(node, "type_params", []))
    return [mutated]


OPERATORS: dict[str, Callable[..., list[ast.AST]]] = {
    "negate-condition": negate_condition,
    "drop-condition": drop_condition,
    "drop-operand": drop_operand,
    "swap-and-or": swap_boolean_operator,
    "swap-comparison": swap_comparison,
    "flip-boolean": flip_boolean_constant,
    "off-by-one": off_by_one,
    "drop-element": drop_element,
    "remove-call": remove_call,
    "early-return": early_return,
}


# -- walking the module ---------------------------------------------------------------------

def _is_docstring(statement) -> bool:
    return (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
            and isinstance(statement.value.value, str))


def _skipped(node, parent, field) -> bool:
    """Nodes whose subtree is never mutated (see the module docstring)."""
    if isinstance(node, (ast.Raise, ast.Assert, ast.JoinedStr)) or _is_docstring(node):
        return True
    if field in ("annotation", "returns", "type_comment"):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        callee = ast.unparse(node.value.func)
        if any(callee == q or (q.endswith(".") and callee.startswith(q)) for q in _QUIET_CALLS):
            return True
    if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
        return True
    if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
        return True
    return isinstance(node, ast.AnnAssign) and node.value is None


def _span(node) -> tuple[int, int, int, int]:
    return (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)


def _walk(tree) -> Iterator[tuple[ast.AST, ast.AST | None, str | None, tuple, int]]:
    """(node, parent, field, (enclosing top-level function, its first and last line), line of
    the innermost statement holding it) for every node that may be mutated."""
    def visit(node, parent, field, function, statement):
        if _skipped(node, parent, field):
            return
        if isinstance(node, ast.stmt):
            statement = node.lineno
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and function[0] == "<module>":
            function = (node.name, (node.lineno, node.end_lineno))  # nested functions belong to the outer one
        if hasattr(node, "lineno"):
            yield node, parent, field, function, statement
        for name, value in ast.iter_fields(node):
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.AST):
                    yield from visit(child, node, name, function, statement)
    yield from visit(tree, None, None, ("<module>", (0, 0)), 0)


def _short(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _shown(node) -> str:
    if isinstance(node, ast.FunctionDef):  # show the change, not the whole function
        return "return None (first statement)" if any(isinstance(s, ast.Return) and s.value is None for s in node.body[:2]) else f"def {node.name}"
    return _short(ast.unparse(node))


def source_path(target: Target = FX) -> Path:
    """The installed prepare.py of `target`: torch's (fx), torchao's (pt2e)."""
    import importlib

    return Path(importlib.import_module(target.module).__file__)


def source_digest(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def generate(source: str) -> list[Mutant]:
    """Every mutant of `source`, in file order, each (operator, node type, span, variant) once."""
    tree = ast.parse(source)
    lines = source_lines(source)
    seen, mutants = set(), []
    for node, parent, field, (function, scope), statement in _walk(tree):
        for operator, make in OPERATORS.items():
            for variant, replacement in enumerate(make(node, parent, field)):
                key = (operator, type(node).__name__, _span(node), variant)
                if key in seen:
                    continue
                seen.add(key)
                original = (f"def {node.name}" if isinstance(node, ast.FunctionDef)
                            else _short(_segment(lines, node) or ast.unparse(node)))
                mutants.append(Mutant(operator, type(node).__name__, _span(node), variant, function, statement, scope, original,
                                      _shown(replacement)))
    mutants.sort(key=lambda m: (m.span, m.operator, m.variant))
    return mutants


def source_lines(source: str) -> list[str]:
    """The source's lines with their ends, split where Python's parser splits them
    (\n, \r\n, \r; not a form feed): the lines `_segment` slices."""
    return io.StringIO(source, newline="").readlines()


def _segment(lines: list[str], node: ast.AST) -> str | None:
    """`ast.get_source_segment(source, node)` from the source's lines, split once: it splits
    the whole source on every call, which made listing prepare.py's mutants take seconds."""
    if getattr(node, "end_lineno", None) is None or getattr(node, "end_col_offset", None) is None:
        return None
    first, last = node.lineno - 1, node.end_lineno - 1
    picked = [line.encode() for line in lines[first:last + 1]]  # the offsets count UTF-8 bytes
    picked[-1] = picked[-1][:node.end_col_offset]
    picked[0] = picked[0][node.col_offset:]
    return b"".join(picked).decode()


class _Apply:
    def __init__(self, mutant: Mutant):
        self.mutant = mutant
        self.applied = False
        self._parents: list[tuple[ast.AST, str]] = []

    def visit(self, node):
        target = self.mutant
        if not self.applied and type(node).__name__ == target.node_type and _span(node) == target.span:
            parent, field = self._parents[-1] if self._parents else (None, None)
            made = OPERATORS[target.operator](node, parent, field)
            if target.variant < len(made):
                self.applied = True
                return ast.copy_location(made[target.variant], node)
        # the children, with the parent and field known to the operators
        for field, old in ast.iter_fields(node):
            if isinstance(old, list):
                new_values = []
                for value in old:
                    if isinstance(value, ast.AST):
                        self._parents.append((node, field))
                        value = self.visit(value)
                        self._parents.pop()
                        if value is None:
                            continue
                        if not isinstance(value, ast.AST):
                            new_values.extend(value)
                            continue
                    new_values.append(value)
                old[:] = new_values
            elif isinstance(old, ast.AST):
                self._parents.append((node, field))
                new_node = self.visit(old)
                self._parents.pop()
                setattr(node, field, new_node)
        return node


class MutantError(Exception):
    """A mutant that cannot be made (its spot is not in this source)."""


def mutated_tree(source: str, mutant: Mutant) -> ast.Module:
    tree = ast.parse(source)
    applier = _Apply(mutant)
    tree = applier.visit(tree)
    if not applier.applied:
        raise MutantError(f"mutant {mutant.id}: no {mutant.node_type} at {mutant.span} in this prepare.py")
    return ast.fix_missing_locations(tree)


def load(source: str, path: Path, mutant: Mutant | None, target: Target = FX) -> types.ModuleType:
    """A fresh module holding `source` (changed by `mutant`), compiled under prepare.py's own
    file name (so tracebacks point at its lines); not registered in sys.modules."""
    tree = mutated_tree(source, mutant) if mutant is not None else ast.parse(source)
    module = types.ModuleType(target.module + "__mutant")
    module.__file__ = str(path)
    module.__package__ = target.module.rpartition(".")[0]
    exec(compile(tree, str(path), "exec"), module.__dict__)
    return module
