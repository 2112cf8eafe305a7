"""`obsconf strength`: the mutation operators, mutants loaded in isolation, the run
(kill, survive, hang, crash), the cache that makes it resumable, and equivalence."""

from __future__ import annotations

import ast
import hashlib
import json
import sys

import pytest

from conformance import mutants, strength
from conformance.cli import main
from models import all_cases

SMALL = '''
import torch
DTYPES = [torch.quint8, torch.qint8]

def f(x, y):
    """Doc."""
    if x > 0 and y:
        g(x)
    warnings.warn("no")
    return x[1] if x is None else None
'''


def test_each_operator_changes_one_spot_of_a_small_module():
    found = mutants.generate(SMALL)
    assert {m.operator for m in found} == set(mutants.OPERATORS) - {"flip-boolean"}
    original = ast.dump(ast.parse(SMALL))
    for mutant in found:
        changed = ast.dump(mutants.mutated_tree(SMALL, mutant))
        assert changed != original, mutant.describe()
        compile(mutants.mutated_tree(SMALL, mutant), "<small>", "exec")
    descriptions = {m.describe() for m in found}
    assert "negate-condition@7:7#0 in f: x > 0 and y -> not (x > 0 and y)" in descriptions
    assert "drop-element@3:9#1 in <module>: [torch.quint8, torch.qint8] -> [torch.quint8]" in descriptions
    assert "remove-call@8:8#0 in f: g(x) -> pass" in descriptions
    assert "swap-comparison@7:7#0 in f: x > 0 -> x >= 0" in descriptions
    assert "off-by-one@10:13#1 in f: 1 -> 0" in descriptions
    assert "early-return@5:0#0 in f: def f -> return None (first statement)" in descriptions
    # messages, warnings and docstrings are left alone
    assert not [m for m in found if m.line == 9 or m.original in ('"no"', '"""Doc."""')]


def test_a_mutants_original_is_the_source_segment_python_gives():
    """generate() slices segments from lines split once; they are ast.get_source_segment's,
    across lines, after non-ASCII text (offsets count UTF-8 bytes) and CRLF line ends."""
    source = SMALL + 'NAME = "é—ü" if len(DTYPES) > 1 else (\n    "x"\n    + "y")\r\nOTHER = [1,\r\n 2]\n'
    lines = mutants.source_lines(source)
    nodes = [n for n in ast.walk(ast.parse(source)) if hasattr(n, "end_col_offset")]
    assert len(nodes) > 40 and any(n.lineno != n.end_lineno for n in nodes)
    for node in nodes:
        assert mutants._segment(lines, node) == ast.get_source_segment(source, node), ast.dump(node)
    described = {m.describe() for m in mutants.generate(source)}
    assert "swap-comparison@11:20#0 in <module>: len(DTYPES) > 1 -> len(DTYPES) >= 1" in described
    assert "drop-element@14:8#0 in <module>: [1, 2] -> [2]" in described


def test_mutants_of_the_installed_prepare_are_stable_and_build():
    source = mutants.source_path().read_text()
    first, second = mutants.generate(source), mutants.generate(source)
    assert first == second and len(first) > 500
    assert len({m.id for m in first}) == len(first)
    for mutant in first[::25]:  # a spread sample: every one compiles under prepare.py's name
        compile(mutants.mutated_tree(source, mutant), "prepare.py", "exec")


def test_a_mutant_loads_in_isolation_and_leaves_site_packages_alone():
    path = mutants.source_path()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    real = sys.modules[mutants.PREPARE_MODULE]
    mutant = next(m for m in mutants.generate(path.read_text()) if m.id.startswith("early-return") and m.function == "prepare")
    module = mutants.load(path.read_text(), path, mutant)
    assert module.prepare is not real.prepare and module.__file__ == str(path)
    assert sys.modules[mutants.PREPARE_MODULE] is real
    assert not [name for name, m in sys.modules.items() if m is module]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert module.prepare(None, None, None, None, None) is None  # the mutation is there


@pytest.fixture
def cat_cases():
    return [c for c in all_cases() if c.id.startswith("patterns/cat/") or c.id.startswith("patterns/linear/")]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(strength, "CACHE_ROOT", tmp_path / "cache")
    return tmp_path / "cache"


def _pick(*ids):
    wanted = set(ids)
    return lambda m: m.id in wanted


def _ids(function, operator):
    source = mutants.source_path().read_text()
    return [m.id for m in mutants.generate(source) if m.function == function and m.operator == operator]


def test_killed_survived_and_resumed(cat_cases, cache):
    sharing = _ids("_maybe_make_input_output_share_observers", "early-return")[0]
    crash = _ids("_get_target_activation_dtype_for_node", "early-return")[0]  # None where a dict is read
    # the equalization observer is never needed without an equalization config: conforms on these cases
    survivor = _ids("_maybe_insert_input_equalization_observers_for_node", "early-return")[0]
    said = []
    chosen, results, schedule = strength.run(cat_cases, jobs=2, only=_pick(sharing, crash, survivor), depth="all",
                                         say=said.append)
    assert len(chosen) == 3 and len(schedule.fast) + len(schedule.rest) == len(cat_cases)
    assert results[sharing]["status"] == strength.KILLED and results[sharing]["how"] == "differs"
    assert "patterns/cat/" in results[sharing]["case"] and "cat -> output" in results[sharing]["detail"]
    assert results[crash]["status"] == strength.KILLED and results[crash]["how"] == "raised"
    assert results[crash]["detail"].startswith("IUT 'mutant early-return@")
    assert results[survivor]["status"] == strength.SURVIVED
    survivor_mutant = next(m for m in chosen if m.id == survivor)
    assert sorted(results[survivor]["ran_ids"]) == sorted(schedule.covering(survivor_mutant))
    assert len(results[survivor]["ran_ids"]) >= 5
    figures = strength.tally(chosen, results)
    assert (figures["killed"], figures["survived"], round(figures["score"], 1)) == (2, 1, 66.7)

    # resumable: a second run has nothing left to do; a torn last line is ignored
    log = next(cache.glob("*/results.jsonl"))
    with log.open("a") as f:
        f.write('{"id": "torn')
    said.clear()
    _, again, _ = strength.run(cat_cases, jobs=2, only=_pick(sharing, crash, survivor), depth="all",
                               say=said.append)
    assert not [s for s in said if s.startswith("strength:")]
    assert {k: again[k]["status"] for k in again} == {k: results[k]["status"] for k in results}

    # a survivor runs again on new cases only
    more = cat_cases + [c for c in all_cases() if c.id.startswith("patterns/add/")]
    _, grown, bigger = strength.run(more, jobs=1, only=_pick(survivor), depth="all", say=said.append)
    assert sorted(grown[survivor]["ran_ids"]) == sorted(bigger.covering(survivor_mutant))
    assert len(grown[survivor]["ran_ids"]) > len(results[survivor]["ran_ids"])
    assert [s for s in said if s.startswith("strength: 1 mutant(s) to run at depth")]


def test_a_kill_against_a_golden_that_changed_is_run_again(cat_cases, cache, tmp_path):
    import shutil

    from conformance.golden import GoldenStore

    root = tmp_path / "golden"
    for case in cat_cases:
        target = root / f"{case.id}.plan"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(GoldenStore().path(case.id), target)
    store = GoldenStore(root)
    sharing = _ids("_maybe_make_input_output_share_observers", "early-return")[0]
    _, results, _ = strength.run(cat_cases, jobs=1, only=_pick(sharing), store=store, say=lambda s: None)
    killer = results[sharing]["case"]
    assert results[sharing]["status"] == strength.KILLED and results[sharing]["golden"]
    store.path(killer).unlink()  # the golden it was killed against is gone: the kill no longer counts
    said = []
    _, again, _ = strength.run(cat_cases, jobs=1, only=_pick(sharing), store=store, say=said.append)
    assert [s for s in said if s.startswith("strength: 1 mutant(s) to run")]
    assert again[sharing]["case"] != killer or again[sharing]["status"] == strength.ERRORED


def test_a_hanging_or_dying_mutant_is_killed(cat_cases, cache, monkeypatch):
    import os
    import time

    class Hangs:
        @staticmethod
        def prepare(*args, **kwargs):
            time.sleep(600)

    class Dies:
        @staticmethod
        def prepare(*args, **kwargs):
            os._exit(7)

    first, second = _ids("prepare", "early-return")[0], _ids("prepare", "negate-condition")[0]
    monkeypatch.setattr(mutants, "load", lambda source, path, m, *target: Hangs if m.id == first else Dies)
    _, results, _ = strength.run(cat_cases[:2], jobs=2, case_timeout=3, only=_pick(first, second), say=lambda s: None)
    assert results[first]["status"] == strength.KILLED and results[first]["how"] == "timeout"
    assert results[second]["status"] == strength.KILLED and results[second]["how"] == "crashed"


def test_equivalence_arguments_are_checked(cat_cases, cache, tmp_path):
    survivor = _ids("_maybe_insert_input_equalization_observers_for_node", "early-return")[0]
    sharing = _ids("_maybe_make_input_output_share_observers", "early-return")[0]
    chosen, results, _ = strength.run(cat_cases, jobs=2, only=_pick(survivor, sharing), say=lambda s: None)
    file = tmp_path / "eq.toml"
    file.write_text(f'''
[[equivalent]]
mutant = "{survivor}"
function = "_maybe_insert_input_equalization_observers_for_node"
original = "def _maybe_insert_input_equalization_observers_for_node"
argument = "only equalization configs reach it"

[[equivalent]]
mutant = "{sharing}"
function = "_maybe_make_input_output_share_observers"
original = "def _maybe_make_input_output_share_observers"
argument = "wrong: a case kills it"

[[equivalent]]
mutant = "early-return@1:0#0"
function = "gone"
original = "def gone"
argument = "stale"
''')
    problems = strength.settle_equivalents(chosen, results, strength.load_equivalents(file))
    assert results[survivor]["status"] == strength.EQUIVALENT
    assert results[survivor]["detail"] == "only equalization configs reach it"
    assert len(problems) == 2
    assert any(p.startswith(f"{sharing}: argued equivalent but killed by patterns/cat/") for p in problems)
    assert any("stale" in p for p in problems)
    assert strength.tally(chosen, results)["score"] == 100.0
    report = strength.markdown(chosen, results, mutants.source_path().read_text(), "obsconf strength", "1 min")
    assert "## Equivalent mutants (1)" in report and "only equalization configs reach it" in report

    file.write_text("[[equivalent]]\nmutant = 3\n")
    with pytest.raises(strength.StrengthError, match="eq.toml: unreadable"):
        strength.load_equivalents(file)


def test_the_committed_equivalence_arguments_parse():
    for file in (strength.EQUIVALENTS, strength.EQUIVALENTS_PT2E):
        arguments = strength.load_equivalents(file)
        assert arguments, file
        for argument in arguments:
            assert argument.argument.strip() and argument.mutant.count("@") == 1


def test_the_pt2e_equivalence_arguments_name_mutants_of_torchao_s_prepare_as_they_are():
    """Each argued mutant exists in this torchao's pt2e/prepare.py with the source the
    argument was made about (else `obsconf strength --target pt2e` reports it stale)."""
    pytest.importorskip("torchao.quantization.pt2e.prepare")
    by_id = {m.id: m for m in mutants.generate(mutants.source_path(mutants.PT2E).read_text())}
    for argument in strength.load_equivalents(strength.EQUIVALENTS_PT2E):
        mutant = by_id.get(argument.mutant)
        assert mutant is not None, argument.mutant
        assert (mutant.function, mutant.original) == (argument.function, argument.original), argument.mutant


def test_cli_lists_mutants_and_rejects_an_unknown_one(capsys, cache):
    assert main(["strength", "--list", "--only", "early-return"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed and all(line.startswith("early-return@") for line in listed)
    assert main(["strength", "-k", "patterns/cat/", "--only", "no-such-mutant"]) == 2
    assert "no mutant matches" in capsys.readouterr().err


def test_depths_narrow_the_cases_a_mutant_runs_on(cat_cases, cache, monkeypatch):
    # no case counts as slow here, whatever else the machine is doing while the line map times them
    monkeypatch.setattr(strength, "FAST_CASE_SECONDS", float("inf"))
    source, path = mutants.source_path().read_text(), mutants.source_path()
    schedule = strength.make_schedule(strength.line_map(cat_cases, source, path, jobs=2, say=lambda s: None))
    mutant = next(m for m in mutants.generate(source) if m.function == "_maybe_insert_input_equalization_observers_for_node")
    local, fast, every = (schedule.cases_for(mutant, depth) for depth in strength.DEPTHS)
    assert set(local) <= set(fast) <= set(every) == schedule.covering(mutant) and len(every) >= 5
    assert len(local) < len(fast)  # every case runs the function the same way, but not the rest of prepare
    def signature(c):
        return tuple(schedule.lines[c]), c.rsplit("/", 1)[-1]

    assert len({signature(c) for c in fast}) == len(fast) == len({signature(c) for c in every})


def test_the_line_map_is_cached_per_case(cat_cases, cache):
    source, path = mutants.source_path().read_text(), mutants.source_path()
    said = []
    entries = strength.line_map(cat_cases[:3], source, path, jobs=2, say=said.append)
    assert all(e["usable"] and e["lines"] for e in entries.values())
    said.clear()
    strength.line_map(cat_cases[:3], source, path, jobs=2, say=said.append)
    assert said == []
    stored = json.loads(next(cache.glob("*/lines.json")).read_text())
    assert set(stored) == {c.id for c in cat_cases[:3]}


def test_the_fast_depth_keeps_slow_cases_tagged_strength():
    lines = [10, 11]
    entries = {
        "rules/cheap/x86-static": {"lines": lines, "seconds": 0.1, "usable": True},
        "rules/slow-twin/x86-static": {"lines": lines, "seconds": 9.0, "usable": True},
        "torchvision/big/x86-static": {"lines": [10, 12], "seconds": 9.0, "usable": True},
    }
    plain = strength.make_schedule(entries)
    assert plain.fast == ["rules/cheap/x86-static"]
    tagged = strength.make_schedule(entries, {"rules/slow-twin/x86-static"})
    assert tagged.fast == ["rules/cheap/x86-static", "rules/slow-twin/x86-static"]
    assert tagged.rest == ["torchvision/big/x86-static"]
    from models import all_cases

    tagged_cases = {c.id for c in all_cases() if strength.STRENGTH_TAG in c.tags}
    assert "rules/long-sharing-walk-first-input/x86-static" in tagged_cases


def test_mutants_of_torchao_s_prepare_run_on_the_pt2e_cases(cache):
    """--target pt2e: torchao's pt2e/prepare.py is mutated and put where prepare_pt2e calls it."""
    source = mutants.source_path(mutants.PT2E).read_text()
    found = mutants.generate(source)
    assert len(found) > 150 and all(m.id for m in found)
    ids = {m.function: m.id for m in found if m.operator == "early-return"}
    sharing = next(m.id for m in found if m.function == "_union_input_edge_with" and m.operator == "early-return")
    cases = [c for c in all_cases() if c.id.startswith("pt2e/annotations/implicit-sharing-")]
    chosen, results, _ = strength.run(cases, jobs=1, only=_pick(sharing, ids["_get_observer_kwargs"]), depth="all",
                                      say=lambda s: None, target=mutants.PT2E)
    assert {results[m.id]["status"] for m in chosen} == {strength.KILLED}
    assert results[sharing]["how"] == "differs" and results[ids["_get_observer_kwargs"]]["how"] == "raised"
    report = strength.markdown(chosen, results, source, "obsconf strength --target pt2e", "1 min", mutants.PT2E)
    assert report.startswith("# Suite strength: mutants of the PT2E oracle's prepare.py")
    assert "`torchao/quantization/pt2e/prepare.py`" in report
