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
# (line numbers drift between releases): (category, explanation). Categories:
#   unreachable - no call of prepare_fx / prepare_qat_fx can get there (dead or defensive code)
#   pt2e        - only graphs annotated or captured by the PT2E flow get there (FX prepare refuses them)
#   error       - only a configuration that prepare rejects gets there (the negative cases, tag rejects)
#   gap         - reachable, but no case reaches it yet
DEFENSIVE = "unreachable", "a defensive check of an invariant that prepare itself maintains"
PT2E = "pt2e", "`quantization_annotation` exists only on PT2E-annotated graphs; prepare_fx never builds one"
REASONS: dict[tuple[str, str], tuple[str, str]] = {
    ("_needs_obs_or_fq", "raise AssertionError("): (
        "error", "a dynamic qconfig whose activation dtype is not observable, or a dynamic consumer of a value with "
        "no tensor dtype: prepare raises"),
    ("_is_pattern_dtype_config_and_qconfig_supported_by_backend",
     'raise AssertionError("matched_node_pattern must be non-empty")'): DEFENSIVE,
    ("_set_target_dtype_info_for_matched_node_pattern", 'raise AssertionError("matched_node_pattern must be a Node")'): (
        "unreachable", "dead: the branch already tested isinstance(matched_node_pattern, Node)"),
    ("_get_target_activation_dtype_for_node", "return copy.copy(_DEFAULT_FP32_QCONFIG_FOR_TARGET_DTYPE_INFO)"): (
        "unreachable", "every caller returns early for a None qconfig, so the qconfig here is never None"),
    ("_get_output_act_obs_or_fq", 'raise AssertionError("arg must be a Node")'): DEFENSIVE,
    ("_get_output_act_obs_or_fq", "raise NotImplementedError("): PT2E,
    ("_get_output_act_obs_or_fq", 'raise AssertionError("Currently we only support observing Node")'): DEFENSIVE,
    ("_get_output_act_obs_or_fq", "raise AssertionError(\"expected 'target_dtype_info' in observed_arg.meta\")"): DEFENSIVE,
    ("_get_output_act_obs_or_fq", "output_act_obs_or_fq_ctr = _DEFAULT_FP32_OBS_OR_FQ_CTR"): (
        "unreachable", "every node read as a producer has target_dtype_info: all original nodes get it before "
        "insertion, and the inserted ones (observers, the LSTM's DeQuantStubs and tuples) are resolved by the "
        "branches above"),
    ("_get_arg_as_input_act_obs_or_fq", 'raise AssertionError("arg must be a Node")'): DEFENSIVE,
    ("_get_arg_as_input_act_obs_or_fq", "raise NotImplementedError("): PT2E,
    ("_maybe_insert_input_observer_for_arg_or_kwarg", 'raise AssertionError("arg must be a Node")'): (
        "unreachable", "dead: non-Node arguments returned on the line before"),
    ("_maybe_insert_input_observer_for_arg_or_kwarg", "raise NotImplementedError("): PT2E,
    ("_maybe_insert_input_observer_for_arg_or_kwarg", "raise AssertionError(\"expected 'target_dtype_info' in node.meta\")"): DEFENSIVE,
    ("_maybe_insert_input_observer_for_arg_or_kwarg", 'raise AssertionError("qconfig must not be None")'): (
        "unreachable", "a standalone module with a None qconfig is skipped before its inputs are considered"),
    ("_maybe_insert_input_observer_for_arg_or_kwarg",
     'raise AssertionError("arg_as_input_act_obs_or_fq must not be None")'): DEFENSIVE,
    ("_maybe_insert_output_observer_for_node",
     'raise AssertionError("observer insertion for outputs is handled elsewhere")'): DEFENSIVE,
    ("_maybe_insert_output_observer_for_node", "raise NotImplementedError("): PT2E,
    ("_maybe_insert_output_observer_for_node", "raise AssertionError(\"expected 'target_dtype_info' in node.meta\")"): DEFENSIVE,
    ("_recursive_maybe_replace_node_with_obs", "if observer_mod is None:"): (
        "unreachable", "a returned node needs an observer only if its expected input dtype differs from its output "
        "dtype, but both come from the same qconfig activation (or the same placeholder), so they never differ"),
    ("_recursive_maybe_replace_node_with_obs", "raise AssertionError("): (
        "unreachable", "see the line above: no returned node needs an observer here"),
    ("_recursive_maybe_replace_node_with_obs", "observer_node = _insert_obs_or_fq("): (
        "unreachable", "see above: no returned node needs an observer here"),
    ("_recursive_maybe_replace_node_with_obs", "return observer_node"): (
        "unreachable", "see above: no returned node needs an observer here"),
    ("_recursive_maybe_replace_node_with_obs", "raise Exception(  # noqa: TRY002"): (
        "error", "a model that returns a constant (an int, a string): prepare raises"),
    ("_maybe_make_input_output_share_observers", "return False"): (
        "gap", "line 1298 is dead (the first argument is always a node, list or tuple); the walk back meeting a "
        "non-node needs a producer with a non-float output and no observer whose positional arguments hold no "
        "node (its tensors passed by keyword): FX records such calls, but no model in the corpus makes one"),
    ("_maybe_make_input_output_share_observers", 'raise AssertionError("Unable to find observer of previous node")'): (
        "error", "a walk of more than 10,000 unobserved nodes back to the observer to share: prepare raises"),
    ("_maybe_make_input_output_share_observers", 'raise AssertionError("first_arg_arg must be a Node")'): DEFENSIVE,
    ("_maybe_make_input_output_share_observers", 'raise AssertionError("target_to_use must be a string")'): DEFENSIVE,
    ("_maybe_make_input_output_share_observers", "if iteration_guard > 10000:"): (
        "gap", "the walk over a later cat input that is not an observer reaches its observer in one step in every case"),
    ("_maybe_make_input_output_share_observers", "raise AssertionError("): DEFENSIVE,
    ("_remove_output_observer", "raise AssertionError("): DEFENSIVE,
    ("insert_observers_for_model", 'raise AssertionError("qhandler must not be None")'): (
        "unreachable", "every match carries a quantize handler"),
    ("insert_observers_for_model", "output_is_a_tensor = this_node_dtype_info is not None and isinstance("): (
        "pt2e", "node.meta['val'] exists only on graphs captured with make_fx / torch.export, not on FX-traced ones"),
    ("insert_observers_for_model", 'raise AssertionError("matched_node_pattern must not be None")'): DEFENSIVE,
    ("_run_prepare_fx_on_standalone_modules", "continue"): (
        "unreachable", "every match carries a quantize handler, so `qhandler is None` never holds"),
    ("prepare", "prepare_custom_config = PrepareCustomConfig()"): (
        "unreachable", "prepare_fx (_prepare_fx) always passes a PrepareCustomConfig"),
    ("prepare", "_equalization_config = QConfigMapping()"): (
        "unreachable", "prepare_fx passes None as an empty QConfigMapping only after _prepare_fx's own default"),
    ("prepare", "warnings.warn("): (
        "unreachable", "only for a prepare_custom_config dict, which _prepare_fx has already converted"),
    ("prepare", "prepare_custom_config = PrepareCustomConfig.from_dict(prepare_custom_config)"): (
        "unreachable", "_prepare_fx converts a prepare_custom_config dict before calling prepare"),
    ("prepare", 'raise AssertionError("qconfig_mapping must be a QConfigMapping")'): (
        "error", "a qconfig mapping that is neither a QConfigMapping nor a dict (a list): prepare raises"),
    ("prepare", 'raise AssertionError("_equalization_config must be a QConfigMapping")'): (
        "error", "an equalization config that is neither a QConfigMapping nor a dict: prepare raises"),
    ("prepare", 'raise AssertionError("result_node must not be None for standalone modules")'): DEFENSIVE,
    ("prepare", "raise AssertionError("): (
        "error", "a standalone module that returns a tuple or dict: prepare raises"),
}


def fx_dir() -> Path:
    import torch.ao.quantization.fx as fx

    return Path(fx.__file__).parent


def measure(patterns: list[str] | None, impl: str = "torch") -> dict:
    """coverage.py's JSON report for the corpus (or the cases matching `patterns`)."""
    files = [str(fx_dir() / name) for name in MEASURED]
    with tempfile.TemporaryDirectory() as tmp:
        data, report = os.path.join(tmp, "coverage.data"), os.path.join(tmp, "coverage.json")
        run = [sys.executable, "-m", "coverage", "run", "--branch", f"--data-file={data}",
               f"--include={','.join(files)}", "-m", "conformance", "run", "--impl", impl,
               "-j", "1"]  # in this process: the cases run in workers are not measured
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
    """The innermost function whose `def` precedes the line."""
    for i in range(line - 1, -1, -1):
        text = source[i].lstrip()
        if text.startswith("def "):
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
    path = fx_dir() / "prepare.py"
    missing = uncovered(_entry(result, "prepare.py"), path)
    reasons = [REASONS.get((f, t), ("gap", "no reason recorded yet")) for _, f, t in missing]
    categories = [category for category, _ in reasons]
    _, _, covered, statements, _, _ = file_figures(_entry(result, "prepare.py"))
    beyond = sum(1 for c in categories if c in ("unreachable", "pt2e"))
    out += ["", f"Of the {statements - covered} statements of prepare.py no case reaches, {beyond} cannot be reached "
            "through prepare_fx / prepare_qat_fx at all (dead or defensive code, PT2E-only paths). Of the "
            f"{statements - beyond} that can, the corpus reaches {covered} "
            f"({100.0 * covered / (statements - beyond):.1f} %).", "",
            "## Lines of prepare.py no case reaches, and why", "",
            "| line | function | code | kind | why |", "| --- | --- | --- | --- | --- |"]
    for (number, function, text), (category, reason) in zip(missing, reasons):
        code = text.replace("|", "\\|")
        out.append(f"| {number} | `{function}` | `{code}` | {category} | {reason} |")
    return "\n".join(out) + "\n"
