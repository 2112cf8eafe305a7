"""Isolation: an IUT that hangs, kills the interpreter or patches torch for good costs the
one case it does it on, with a one-line reason; the other cases' results are unchanged,
and the same with one worker or two."""

import json
import os
import re
import sys
from pathlib import Path

import pytest

from conformance.cli import main

ROOT = Path(__file__).resolve().parent.parent

SELECTION = ["-k", "patterns/cat/", "-k", "patterns/linear/"]  # 10 cases; the IUTs misbehave on one
TARGET = "patterns/cat/x86-qat"


def _run(capsys, impl, *extra):
    code = main(["run", "--impl", f"tests.planted:{impl}", *SELECTION, "-v", *extra])
    lines = capsys.readouterr().out.splitlines()
    return code, [line for line in lines if line.split(" ", 1)[0] in ("CONFORM", "DIFFER", "ERROR", "SKIPPED")], lines[-1]


@pytest.mark.parametrize("impl, reason", [
    ("hangs_on_one_case", "timed out after 10 s (the worker process was killed)"),
    ("exits_on_one_case", "the worker process exited with code 3 while the IUT ran; no outcome"),
    ("patches_torch_on_one_case",
     "IUT 'tests.planted:patches_torch_on_one_case' changed torch's global state and left it changed: torch.cat replaced"),
])
def test_a_misbehaving_iut_costs_one_case(capsys, impl, reason):
    results = {}
    for jobs in ("1", "2"):
        code, outcomes, summary = _run(capsys, impl, "-j", jobs, "--timeout", "10")
        assert code == 1
        assert summary == "9 conform, 0 differ, 1 error, 0 skipped"
        assert [o for o in outcomes if o.startswith("ERROR")] == [f"ERROR {TARGET}: {reason}"]
        results[jobs] = outcomes
    assert results["1"] == results["2"]


def test_a_leak_costs_its_case_under_a_memory_cap(capsys):
    code, outcomes, summary = _run(capsys, "leaks_on_one_case", "-j", "2", "--max-memory", "2048")
    assert summary == "9 conform, 0 differ, 1 error, 0 skipped"
    assert [o for o in outcomes if o.startswith("ERROR")] == [
        f"ERROR {TARGET}: IUT 'tests.planted:leaks_on_one_case' raised MemoryError"]


@pytest.mark.parametrize("impl, reason", [
    ("hangs_on_one_case", "timed out after 10 s (the worker process was killed)"),
    ("exits_on_one_case", "the worker process exited with code 3 while the IUT ran; no outcome"),
])
def test_with_no_options_a_crash_or_a_hang_costs_one_case(capsys, monkeypatch, impl, reason):
    """Workers and a timeout are the default: no -j, no --timeout. (The default timeout is
    shortened here: 600 s is what a real run gets.)"""
    from conformance import cli

    monkeypatch.setattr(cli, "DEFAULT_TIMEOUT", 10.0)
    code, outcomes, summary = _run(capsys, impl)
    assert code == 1
    assert summary == "9 conform, 0 differ, 1 error, 0 skipped"
    assert [o for o in outcomes if o.startswith("ERROR")] == [f"ERROR {TARGET}: {reason}"]
    assert [o.split(" ", 1)[1].split(":")[0] for o in outcomes] == sorted(
        o.split(" ", 1)[1].split(":")[0] for o in outcomes)  # case order


def test_with_no_options_a_leak_costs_its_case(capsys, monkeypatch):
    """The memory cap is on by default (shrunk here from its default, three quarters of
    the machine's memory shared among the workers)."""
    from conformance import isolation

    monkeypatch.setattr(isolation, "default_max_memory", lambda jobs: 2048)
    code, outcomes, summary = _run(capsys, "leaks_on_one_case")
    assert summary == "9 conform, 0 differ, 1 error, 0 skipped"
    assert [o for o in outcomes if o.startswith("ERROR")] == [
        f"ERROR {TARGET}: IUT 'tests.planted:leaks_on_one_case' raised MemoryError"]


def test_a_worker_runs_many_cases_in_a_process_of_its_own(capsys, monkeypatch, tmp_path):
    """Forking once per worker, not once per case: that is most of the speed."""
    import os

    record = tmp_path / "pids"
    monkeypatch.setenv("OBSCONF_TEST_PID_FILE", str(record))
    code, outcomes, summary = _run(capsys, "records_its_process", "-j", "2")
    assert (code, summary) == (0, "10 conform, 0 differ, 0 error, 0 skipped")
    pids = record.read_text().split()
    assert len(pids) == 10 and 1 <= len(set(pids)) <= 2 and str(os.getpid()) not in pids


def test_a_patch_retires_only_its_worker(capsys):
    """The worker that patched torch is replaced, so the cat cases after it conform."""
    for jobs in ("1", "2"):
        code, outcomes, summary = _run(capsys, "patches_torch_on_one_case", "-j", jobs, "--timeout", "60")
        assert summary == "9 conform, 0 differ, 1 error, 0 skipped"


def test_without_isolation_the_patch_leaks_into_later_cases(capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch, "cat", torch.cat)  # puts the real one back after the test
    code, outcomes, summary = _run(capsys, "patches_torch_on_one_case", "-j", "1")
    assert code == 1
    # the target case conforms; every cat case after it is broken by its leftover patch
    assert f"CONFORM {TARGET}" in outcomes
    assert any(o.startswith("ERROR patterns/cat/") for o in outcomes)


def test_a_function_torch_rebinds_on_its_first_prepare_is_not_blamed_on_the_iut(monkeypatch):
    """torch 2.15's first prepare_fx imports torch._dynamo, which wraps torch.manual_seed:
    the runner settles that before forking, so no child sees it happen."""
    import torch
    import torch.ao.quantization.quantize_fx as quantize_fx

    from conformance.contract import load
    from conformance.golden import GoldenStore
    from conformance.isolation import run_isolated
    from conformance.runner import CONFORM
    from models import all_cases

    monkeypatch.setattr(torch, "manual_seed", torch.manual_seed)  # restored afterwards
    original = quantize_fx.prepare_fx
    rebound = []

    def first_call_rebinds(*args, **kwargs):
        if not rebound:  # what a lazy import does, once per process
            seed = torch.manual_seed
            torch.manual_seed = lambda *a, **k: seed(*a, **k)
            rebound.append(True)
        return original(*args, **kwargs)

    monkeypatch.setattr(quantize_fx, "prepare_fx", first_call_rebinds)
    case = next(c for c in all_cases() if c.id == "patterns/linear/x86-static")
    outcomes = run_isolated([case], load("torch"), GoldenStore(), jobs=1)
    assert rebound and [o.status for o in outcomes] == [CONFORM], outcomes[0].message


def test_a_run_with_no_workers_is_one_usage_error(capsys):
    assert main(["run", "--impl", "reference", "-k", "patterns/cat/", "-j", "0"]) == 2
    assert capsys.readouterr().err.strip() == "obsconf: error: -j 0: give 1 or more worker processes"


def test_garbage_is_collected_when_memory_grows_and_survivors_frozen_every_so_many_cases(monkeypatch):
    """The first collection freezes the heap; every REFREEZE_EVERY cases a collection of
    what is not frozen freezes its survivors too; a full collection, everything unfrozen
    first, runs past COLLECT_GROWTH_MB of growth, or when asked to."""
    import gc

    from conformance import runner

    calls, resident = [], [1000.0]
    for name in ("collect", "freeze", "unfreeze"):
        monkeypatch.setattr(gc, name, lambda *a, name=name: calls.append(name))
    monkeypatch.setattr(runner, "resident_mb", lambda: resident[0])
    collector = runner._Collector()
    monkeypatch.setattr(runner, "_COLLECTOR", collector)
    full, partial = ["unfreeze", "collect", "freeze"], ["collect", "freeze"]

    runner.release_torch_caches()
    assert calls == full and collector.frozen
    calls.clear()
    for _ in range(runner.REFREEZE_EVERY - 2):
        resident[0] += 1
        runner.release_torch_caches()
    assert calls == []  # CPython's own collector reclaims the cycles in between
    runner.release_torch_caches()
    assert calls == partial  # the REFREEZE_EVERY-th case
    calls.clear()
    resident[0] += runner.COLLECT_GROWTH_MB
    runner.release_torch_caches()
    assert calls == full
    calls.clear()
    runner.release_torch_caches()
    assert calls == []  # growth is measured again from the last full collection
    runner.release_torch_caches(now=True)
    assert calls == full
    calls.clear()
    runner.release_torch_caches(collect=False)
    assert calls == [] and collector.cases == runner.REFREEZE_EVERY + 3  # not counted


def test_the_sources_torch_fx_keeps_for_the_cases_run_are_forgotten():
    """torch.fx keeps every compiled GraphModule's source in a process-wide cache and in
    linecache; after a case those of its modules go, those known before stay."""
    import linecache

    from torch.fx import graph_module

    from conformance import runner
    from conformance.cli import select
    from conformance.contract import load

    known = set(graph_module._loader.eval_cache)
    runner._SOURCES.known = known
    case = select(["patterns/cat/"])[0]
    prepared = runner.run_iut(case, load("reference"))
    inputs = case.materialise().example_inputs
    added = set(graph_module._loader.eval_cache) - known
    assert added and all(k in linecache.cache for k in added)
    runner.release_torch_caches(collect=False)
    assert prepared(*inputs) is not None  # it still runs
    assert set(graph_module._loader.eval_cache) == known
    assert not any(k in linecache.cache for k in added)


def _interrupt_after(command: list[str], lines: int, tmp_path) -> tuple[int, str, str]:
    """Run `obsconf COMMAND` in a process of its own, send it SIGINT once it has printed
    `lines` lines, and return its exit code, stdout and stderr."""
    import signal
    import subprocess

    env = dict(os.environ, OBSCONF_CACHE_DIR=str(tmp_path / "cache"), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "conformance", *command], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if len(seen) >= lines:
            proc.send_signal(signal.SIGINT)
            break
    out, err = proc.communicate(timeout=120)
    return proc.returncode, "".join(seen) + out, err


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_stops_a_run_between_cases_with_its_summary_and_reports(tmp_path, jobs):
    report = tmp_path / "r.json"
    code, out, err = _interrupt_after(["run", "--impl", "reference", "--family", "zoo", "-v", "--quiet-progress",
                                       "-j", jobs, "--json", str(report)], 5, tmp_path)
    assert code == 130, err
    assert "SIGINT: stopping" in err and "Traceback" not in err
    summary = out.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ conform, 0 differ, 0 error, 0 skipped, \d+ not run", summary), summary
    assert "INTERRUPTED after" in out
    data = json.loads(report.read_text())
    finished = int(summary.split()[0])
    assert len(data["cases"]) == finished >= 5 and data["not_run"]


def test_the_first_signal_is_told_on_the_run_s_stderr_even_while_a_case_s_output_is_captured(capsys):
    """At -j 1 a case runs with sys.stderr redirected into its capture buffer; the
    signal's message went there and was lost with the case's output (a CI failure)."""
    import signal

    from conformance import runner
    from conformance.interrupt import stop_requests

    captured = runner.CapturedOutput()
    with stop_requests("stopping after the case running now") as stop:
        with captured.capturing():
            signal.raise_signal(signal.SIGINT)
    assert stop.requested and stop.exit_code == 130
    assert "SIGINT: stopping after the case running now" in capsys.readouterr().err
    assert "SIGINT" not in captured.text()
