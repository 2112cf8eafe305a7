"""reference/ may reuse torch's plumbing but never torch's placement logic."""

import ast
from pathlib import Path

import reference

FORBIDDEN = (
    "torch.ao.quantization.fx.prepare",
    "torch.ao.quantization.fx.qconfig_mapping_utils",
    "torch.ao.quantization.fx.match_utils",
    "torch.ao.quantization.fx.pattern_utils",
    "torch.ao.quantization.fx.quantize_handler",
    "torch.ao.quantization.fx.utils",
    "torch.ao.quantization.quantize_fx",
)


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, resolved to absolute dotted names."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def violations(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        for name in sorted(imported_modules(path)):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
                found.append(f"{path.relative_to(root.parent)} imports {name}")
    return found


def test_reference_imports_no_placement_logic():
    assert violations(Path(reference.__file__).parent) == []


def test_the_check_catches_a_forbidden_import(tmp_path):
    pkg = tmp_path / "fake_reference"
    pkg.mkdir()
    (pkg / "rules.py").write_text("from torch.ao.quantization.fx.prepare import prepare\nimport torch.ao.quantization.fx.match_utils\n")
    assert violations(pkg) == [
        "fake_reference/rules.py imports torch.ao.quantization.fx.match_utils",
        "fake_reference/rules.py imports torch.ao.quantization.fx.prepare",
        "fake_reference/rules.py imports torch.ao.quantization.fx.prepare.prepare",
    ]
