"""The reference's size in lines of code: lines holding code, not counting blank lines,
comments and docstrings (the budget is 1,300).

    python -m tests.reference_size
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import reference

BUDGET = 1300
SKIPPED_TOKENS = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}


def code_lines(source: str) -> int:
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                docstrings.update(range(first.lineno, first.end_lineno + 1))
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in SKIPPED_TOKENS:
            lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines - docstrings)


def sizes() -> dict[str, tuple[int, int]]:
    """file name (relative to reference/: the pt2e rules as pt2e/...) -> (code lines, physical lines)."""
    root = Path(reference.__file__).parent
    return {p.relative_to(root).as_posix(): (code_lines(p.read_text()), len(p.read_text().splitlines()))
            for p in sorted(root.rglob("*.py"))}


def main() -> None:
    table = sizes()
    for name, (code, physical) in table.items():
        print(f"{name:22} {code:5} code {physical:5} lines")
    code, physical = (sum(v[i] for v in table.values()) for i in (0, 1))
    print(f"{'total':22} {code:5} code {physical:5} lines (budget {BUDGET} code lines)")


if __name__ == "__main__":
    main()
