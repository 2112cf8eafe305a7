"""`obsconf coverage`: how much of the oracle's prepare the corpus exercises.

Runs the corpus against the oracle under coverage.py in a child process (so the
measured modules are imported after measuring starts) and reports line and branch
coverage of torch/ao/quantization/fx/prepare.py, qconfig_mapping_utils.py,
match_utils.py and pattern_utils.py. `--write DIR` also writes DIR/oracle-coverage.md:
the figures and, for every line of prepare.py no case reaches, why (REASONS below).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

MEASURED = ("prepare.py", "qconfig_mapping_utils.py", "match_utils.py", "pattern_utils.py")

# Why no case reaches a line of prepare.py, keyed by the function and the line's text
# (line numbers drift between releases). A line without an entry says so in the report.
REASONS: dict[tuple[str, str], str] = {}


def fx_dir() -> Path:
    import torch.ao.quantization.fx as fx

    return Path(fx.__file__).parent


def measure(patterns: list[str] | None, impl: str = "torch") -> dict:
    """coverage.py's JSON report for the corpus (or the cases matching `patterns`)."""
    files = [str(fx_dir() / name) for name in MEASURED]
    with tempfile.TemporaryDirectory() as tmp:
        data, report = os.path.join(tmp, "coverage.data"), os.path.join(tmp, "coverage.json")
        run = [sys.executable, "-m", "coverage", "run", "--branch", f"--data-file={data}",
               f"--include={','.join(files)}", "-m", "conformance", "run", "--impl", impl]
        for pattern in patterns or []:
            run += ["-k", pattern]
        done = subprocess.run(run, capture_output=True, text=True)
        summary = (done.stdout.strip().splitlines() or [""])[-1]
        subprocess.run([sys.executable, "-m", "coverage", "json", f"--data-file={data}", "-o", report, "-q"],
                       check=True, capture_output=True)
        result = json.loads(Path(report).read_text())
    result["run_summary"] = summary
    return result


def file_figures(entry: dict) -> tuple[float, float, int, int, int, int]:
    """(line %, branch %, lines covered, lines, branches covered, branches)."""
    s = entry["summary"]
    lines, covered = s["num_statements"], s["covered_lines"]
    branches, covered_branches = s.get("num_branches", 0), s.get("covered_branches", 0)
    return (100.0 * covered / lines if lines else 100.0, 100.0 * covered_branches / branches if branches else 100.0,
            covered, lines, covered_branches, branches)


def function_of(source: list[str], line: int) -> str:
    for i in range(line - 1, -1, -1):
        text = source[i].lstrip()
        if text.startswith("def ") and len(source[i]) - len(text) == 0 or text.startswith("def ") and i < line - 1:
            return text[4:].split("(")[0]
    return "<module>"


def uncovered(entry: dict, path: Path) -> list[tuple[int, str, str]]:
    """(line, function, text) for every statement no case reaches."""
    source = path.read_text().splitlines()
    return [(n, function_of(source, n), source[n - 1].strip()) for n in sorted(entry["missing_lines"])]


def report_lines(result: dict) -> list[str]:
    lines = [f"{'file':28} {'lines':>16} {'branches':>16}"]
    for name in MEASURED:
        entry = _entry(result, name)
        line_pct, branch_pct, lc, ln, bc, bn = file_figures(entry)
        lines.append(f"{name:28} {line_pct:6.1f}% {lc:4}/{ln:<4} {branch_pct:6.1f}% {bc:4}/{bn:<4}")
    return lines


def _entry(result: dict, name: str) -> dict:
    for path, entry in result["files"].items():
        if Path(path).name == name and Path(path).parent.name == "fx":
            return entry
    return {"summary": {"num_statements": 0, "covered_lines": 0}, "missing_lines": []}


def markdown(result: dict, command: str) -> str:
    import torch

    out = ["# Oracle coverage", "",
           f"What the corpus exercises of torch {torch.__version__}'s prepare, measured with coverage.py",
           f"(`{command}`; the run itself: {result['run_summary']}).", "",
           "| file | lines | branches |", "| --- | --- | --- |"]
    for name in MEASURED:
        line_pct, branch_pct, lc, ln, bc, bn = file_figures(_entry(result, name))
        out.append(f"| `{name}` | {line_pct:.1f} % ({lc}/{ln}) | {branch_pct:.1f} % ({bc}/{bn}) |")
    out += ["", "## Lines of prepare.py no case reaches, and why", "",
            "| line | function | code | why |", "| --- | --- | --- | --- |"]
    path = fx_dir() / "prepare.py"
    for number, function, text in uncovered(_entry(result, "prepare.py"), path):
        reason = REASONS.get((function, text), "no reason recorded yet")
        code = text.replace("|", "\\|")
        out.append(f"| {number} | `{function}` | `{code}` | {reason} |")
    return "\n".join(out) + "\n"
