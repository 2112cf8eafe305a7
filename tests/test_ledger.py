"""The divergence ledger (golden/ledger.toml) and the behaviour table across torch releases
(obsconf matrix): how a release's differences are judged, and how records, ledger and the
table are kept in agreement."""

import json

import pytest
import torch

from conformance import matrix
from conformance.cli import main
from conformance.ledger import DEFAULT_LEDGER, Ledger, LedgerError, release, tomllib  # tomli before Python 3.11
from conformance.runner import CONFORM, DIFFER, ERROR, SKIPPED, Outcome

PLANTED = "tests.planted:drop_one_observer"
CASE = "patterns/linear/x86-static"
DIFFERENCE = "missing observer on x -> linear (arg 0) [HistogramObserver]"
THIS = str(release(torch.__version__))


def _ledger(text: str, version: str = "2.0.1+cu117") -> Ledger:
    return Ledger.parse(tomllib.loads(text), version, "test.toml")


IS_DYNAMIC = '''
[[divergence]]
id = "no-is-dynamic"
torch = "<2.1"
cases = ["patterns/*"]
outcome = "differs"
differences = ["observer on *: is_dynamic False != <absent>*"]
change = "observers gained is_dynamic in 2.1"

[[divergence]]
id = "linear-input"
torch = ">=2.0,<2.2"
cases = ["patterns/linear/x86-static"]
outcome = "differs"
differences = ["missing observer on x -> linear (arg 0) [HistogramObserver]"]
change = "made up for the test"

[[divergence]]
id = "wide-int16"
torch = "<2.2"
cases = ["rules/wide-dtypes/wide-int16"]
outcome = "error"
error = "only works for qint8"
change = "int16 observers arrived in 2.2"
'''


def test_releases_are_read_without_their_build_tag_and_ranges_pick_the_entries():
    assert str(release("2.0.1+cu117")) == "2.0.1" and str(release("2.15.0")) == "2.15.0"
    assert [e.id for e in _ledger(IS_DYNAMIC, "2.0.1+cu117").entries] == ["no-is-dynamic", "linear-input", "wide-int16"]
    assert [e.id for e in _ledger(IS_DYNAMIC, "2.1.2").entries] == ["linear-input", "wide-int16"]
    assert [e.id for e in _ledger(IS_DYNAMIC, "2.14.1+cu130").entries] == []


PT2E_SOURCES = '''
[[divergence]]
id = "torch-ao-only"
torch = ">=2.6"
pt2e = "torch.ao"
cases = ["pt2e/*"]
outcome = "differs"
differences = ["*: class torchao.* != torch.ao.*"]
change = "made up: torch.ao's classes"

[[divergence]]
id = "fixed-in-torchao-0.16"
torch = ">=2.6"
pt2e = ["torch.ao", "torchao<0.16"]
cases = ["pt2e/*"]
outcome = "error"
error = "expecting kwargs"
change = "made up: a fix torchao 0.16 brought"

[[divergence]]
id = "export"
torch = ">=2.8,<2.11"
cases = ["pt2e/*"]
outcome = "differs"
differences = ["node scopes differ: *"]
change = "made up: torch's export, whichever prepare_pt2e runs"
'''


@pytest.mark.parametrize("version, pt2e, admitted", [
    ("2.10.0+cu128", "torch.ao (torch 2.10.0+cu128)", ["torch-ao-only", "fixed-in-torchao-0.16", "export"]),
    ("2.9.1", "torchao 0.15.0", ["fixed-in-torchao-0.16", "export"]),
    ("2.10.0", "torchao 0.16.0", ["export"]),
    ("2.12.1", "torchao 0.16.0+cpu", []),
    ("2.10.0", None, ["export"]),  # no pt2e case ran: the entries about one source stand aside
])
def test_entries_about_one_pt2e_source_apply_only_where_the_pt2e_cases_ran_on_it(version, pt2e, admitted):
    ledger = Ledger.parse(tomllib.loads(PT2E_SOURCES), version, "test.toml", pt2e)
    assert [e.id for e in ledger.entries] == admitted
    assert "pt2e torch.ao or torchao<0.16" in ledger.everything[1].describe()


def test_every_difference_line_must_be_listed_and_wildcards_match_any_text():
    ledger = _ledger(IS_DYNAMIC)
    listed = Outcome("patterns/cat/x86-static", DIFFER, ["observer on {a -> cat (arg 0)}: is_dynamic False != <absent>"])
    verdict = ledger.judge(listed)
    assert verdict.ok and verdict.entries == ("no-is-dynamic",)
    unlisted = Outcome("patterns/cat/x86-static", DIFFER, listed.differences + ["missing observer on a -> b (arg 0) [X]"])
    verdict = ledger.judge(unlisted)
    assert not verdict.ok and "unlisted difference for torch 2.0.1: missing observer on a -> b" in verdict.why
    # brackets are plain text, not glob classes: only * is special
    assert not ledger.judge(Outcome("patterns/cat/x86-static", DIFFER, ["observer on x: is_dynamic True != <absent>"])).ok


def test_an_exactly_listed_divergence_that_changes_fails_and_one_that_vanished_is_an_xpass():
    ledger = _ledger(IS_DYNAMIC, "2.1.0")
    assert ledger.judge(Outcome(CASE, DIFFER, [DIFFERENCE])).ok
    changed = ledger.judge(Outcome(CASE, DIFFER, ["missing observer on x -> linear (arg 0) [MinMaxObserver]"]))
    assert not changed.ok and "unlisted difference" in changed.why
    gone = ledger.judge(Outcome(CASE, CONFORM))
    assert gone.kind == "xpass" and "conforms, although divergence 'linear-input'" in gone.why
    # a case the wildcard entry merely could concern may conform
    assert _ledger(IS_DYNAMIC).judge(Outcome("patterns/cat/x86-static", CONFORM)).ok


def test_a_listed_line_that_went_missing_while_the_case_still_differs_fails():
    ledger = _ledger(IS_DYNAMIC)
    other = "observer on {x -> linear (arg 0)}: is_dynamic False != <absent>"
    verdict = ledger.judge(Outcome(CASE, DIFFER, [other]))
    assert not verdict.ok and "the divergence changed" in verdict.why


def test_errors_need_an_entry_whose_substring_they_contain_and_unused_entries_are_named():
    ledger = _ledger(IS_DYNAMIC)
    case = "rules/wide-dtypes/wide-int16"
    assert ledger.judge(Outcome(case, ERROR, message="IUT 'torch' raised AssertionError: Default Observer only works "
                                                     "for qint8, quint8 and quint4x2 data type")).ok
    assert not ledger.judge(Outcome(case, ERROR, message="IUT 'torch' raised KeyError: 3")).ok
    assert not ledger.judge(Outcome("rules/other/x86-static", ERROR, message="x")).ok
    assert ledger.judge(Outcome("torchvision/x/x86-static", SKIPPED, message="torchvision 0.15.2 has no model x")).ok
    assert [e.id for e in ledger.unused()] == ["no-is-dynamic", "linear-input"]


@pytest.mark.parametrize("text, message", [
    ("[[divergence]]\nid = 'a'\ntorch = 'two'\ncases = '*'\noutcome = 'skip'\nchange = 'c'", "version range"),
    ("[[divergence]]\nid = 'a'\ntorch = '<2'\ncases = '*'\noutcome = 'differs'\nchange = 'c'", "needs `differences`"),
    ("[[divergence]]\nid = 'a'\ntorch = '<2'\ncases = '*'\noutcome = 'skip'", "upstream `change`"),
    ("[[divergence]]\nid = 'A b'\ntorch = '<2'\ncases = '*'\noutcome = 'skip'\nchange = 'c'", "`id` must be"),
    ("[[divergence]]\nid = 'a'\ntorch = '<2'\ncases = '*'\noutcome = 'skip'\nchange = 'c'\n"
     "[[divergence]]\nid = 'a'\ntorch = '<2'\ncases = '*'\noutcome = 'skip'\nchange = 'c'", "used twice"),
    ("[[expect]]\n", "unknown top-level"),
    ("[[divergence]]\nid = 'a'\ntorch = '<2'\npt2e = 'torchao 0.16'\ncases = '*'\noutcome = 'skip'\nchange = 'c'",
     "`pt2e` must name pt2e sources"),
    ("[[divergence]]\nid = 'a'\ntorch = '<2'\npt2e = ['executorch']\ncases = '*'\noutcome = 'skip'\nchange = 'c'",
     "`pt2e` must name pt2e sources"),
    ("[[divergence]]\nid = 'a'\ntorch = '<2'\npt2e = 'torch.ao<2.5'\ncases = '*'\noutcome = 'skip'\nchange = 'c'",
     "`pt2e` must name pt2e sources"),
    ("[[divergence]]\nid = 'a'\ntorch = '<2'\npt2e = []\ncases = '*'\noutcome = 'skip'\nchange = 'c'",
     "`pt2e` must name pt2e sources"),
])
def test_bad_ledgers_are_one_line_errors_naming_the_file_and_entry(text, message):
    with pytest.raises(LedgerError, match=message) as info:
        Ledger.parse(tomllib.loads(text), "2.0.1", "bad.toml")
    assert "bad.toml" in str(info.value) and "\n" not in str(info.value)


def test_the_bundled_ledger_reads_and_lists_nothing_for_the_release_that_made_the_goldens():
    ledger = Ledger.load(DEFAULT_LEDGER, torch.__version__)
    assert ledger.everything, "the ledger lists the divergences of the other releases"
    assert ledger.entries == [], "the goldens' own release cannot diverge from them"
    for entry in ledger.everything:
        assert entry.change.strip()


def test_run_with_a_ledger_accepts_listed_differences_and_fails_on_others(tmp_path, capsys):
    path = tmp_path / "ledger.toml"
    path.write_text(f'''
[[divergence]]
id = "planted"
torch = "=={THIS}"
cases = ["{CASE}"]
outcome = "differs"
differences = ["{DIFFERENCE}"]
change = "the planted fault"

[[divergence]]
id = "another-pattern"
torch = "=={THIS}"
cases = ["patterns/cat/*"]
outcome = "differs"
differences = ["*"]
change = "an entry of the family that ran, which no case of the run shows"

[[divergence]]
id = "another-family"
torch = "=={THIS}"
cases = ["rules/*"]
outcome = "differs"
differences = ["*"]
change = "an entry of a family the run did not run: not its business"
''')
    report = tmp_path / "r.json"
    assert main(["run", "--impl", PLANTED, "-k", CASE, "--ledger", str(path), "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "1 expected, 0 xpass, 1 unused ledger entries" in out
    assert "UNUSED divergence 'another-pattern'" in out and "another-family" not in out
    entry = json.loads(report.read_text())["cases"][0]
    assert entry["ledger"] == ["planted"] and matrix.cell(entry) == "planted"
    path.write_text(path.read_text().replace(f"=={THIS}", "<2.1"))
    assert main(["run", "--impl", PLANTED, "-k", CASE, "--ledger", str(path)]) == 1
    assert f"unlisted difference for torch {THIS}" in capsys.readouterr().out
    assert main(["run", "--impl", PLANTED, "--ledger", str(path), "--expectations", str(path)]) == 2


def test_goldens_no_recipe_here_builds_are_skipped_with_the_reason(tmp_path):
    from conformance.golden import GoldenStore

    store = GoldenStore(tmp_path)
    for case_id in ("torchvision/ghostnet/x86-static", "zoo/x86/torch.foo/x86-static", "rules/gone/x86-static",
                    "patterns/linear/x86-static"):
        (tmp_path / (case_id + ".plan")).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / (case_id + ".plan")).write_text("")
    absent = dict(matrix.absent_cases(store, {"patterns/linear/x86-static"}))
    assert sorted(absent) == ["rules/gone/x86-static", "torchvision/ghostnet/x86-static", "zoo/x86/torch.foo/x86-static"]
    assert "has no model ghostnet" in absent["torchvision/ghostnet/x86-static"]
    assert "x86 backend config has no pattern torch.foo" in absent["zoo/x86/torch.foo/x86-static"]
    assert list(dict(matrix.absent_cases(store, set(), lambda i: "zoo/" in i))) == ["zoo/x86/torch.foo/x86-static"]


def test_a_run_of_some_families_skips_only_their_goldens_no_recipe_builds():
    """`tox -e torch2.15-torchao0.18` (the pt2e family, on a torch with no torchvision)
    reports no torchvision golden as skipped: the absent goldens follow the selection."""
    from argparse import Namespace

    from conformance.cli import _absent_selected

    def run(**kw):
        return Namespace(**{"k": None, "family": None, "backend": None, "preset": None, **kw})

    vision = "torchvision/ghostnet/x86-static"
    assert _absent_selected(vision, run())
    assert not _absent_selected(vision, run(family=["pt2e"])) and _absent_selected(vision, run(family=["torchvision"]))
    assert not _absent_selected(vision, run(backend=["qnnpack"])) and _absent_selected(vision, run(preset=["x86-static"]))
    assert not _absent_selected(vision, run(k=["resnet"])) and _absent_selected(vision, run(k=["ghost"]))


def _report(version: str, cases: list[dict]) -> dict:
    return {"schema": 1, "impl": "torch", "torch": version, "torchvision": None, "cases": cases}


def test_records_table_and_ledger_agree_or_the_check_says_where_not(tmp_path):
    ledger = tmp_path / "ledger.toml"
    ledger.write_text(IS_DYNAMIC)
    results, records = tmp_path / "results", tmp_path / "records"
    results.mkdir()
    dynamic = "observer on {a -> cat (arg 0)}: is_dynamic False != <absent>"
    int16 = "IUT 'torch' raised AssertionError: Default Observer only works for qint8, quint8 and quint4x2 data type"
    # the reports' own verdicts do not count: the record judges the raw outcomes again
    (results / "torch2.0.json").write_text(json.dumps(_report("2.0.1+cu117", [
        {"id": "patterns/cat/x86-static", "status": DIFFER, "verdict": "unexpected", "differences": [dynamic]},
        {"id": CASE, "status": DIFFER, "verdict": "unexpected", "differences": [DIFFERENCE, dynamic]},
        {"id": "rules/wide-dtypes/wide-int16", "status": ERROR, "verdict": "unexpected", "message": int16},
        {"id": "torchvision/x/x86-static", "status": SKIPPED, "verdict": "conform", "message": "no model x"},
        # an older report: a missing import was an error, with that machine's path in it
        {"id": "zoo/executorch/x/executorch-qat", "status": ERROR, "verdict": "unexpected",
         "message": "cannot build case: ImportError: cannot import name 'm' from 'torch.ao.q' (/home/u/.tox/t/q.py)"},
    ])))
    (results / "torch2.1.json").write_text(json.dumps(_report("2.1.2", [
        {"id": "patterns/cat/x86-static", "status": CONFORM, "verdict": "conform"},
        {"id": CASE, "status": DIFFER, "verdict": "expected", "differences": ["z"]},
        {"id": "rules/wide-dtypes/wide-int16", "status": ERROR, "verdict": "expected", "message": int16},
    ])))
    written = matrix.update(ledger, results, records)
    assert sorted(p.rsplit("/", 1)[1] for p in written) == ["torch-2.0.1.json", "torch-2.1.2.json"]
    loaded = matrix.load_records(records)
    assert [r["torch"] for r in loaded] == ["2.0.1+cu117", "2.1.2"]
    assert loaded[0]["cases"][CASE]["cell"] == "no-is-dynamic linear-input"  # in ledger order
    assert loaded[0]["cases"]["torchvision/x/x86-static"] == {"cell": "skip", "why": "no model x"}
    assert loaded[0]["cases"]["zoo/executorch/x/executorch-qat"] == {
        "cell": "skip", "why": "torch 2.0.1+cu117 lacks what the case needs: ImportError: cannot import name 'm' from 'torch.ao.q'"}
    assert loaded[0]["summary"] == {"ledgered": 3, "skipped": 2} and loaded[0]["unused"] == []
    assert loaded[1]["cases"][CASE] == {"cell": "FAIL", "why": "unlisted difference for torch 2.1.2: z"}
    assert loaded[1]["unused"] == ["linear-input"]
    problems = matrix.check(loaded, ledger)
    assert problems == ["torch 2.1.2: patterns/linear/x86-static fails: unlisted difference for torch 2.1.2: z",
                        "torch 2.1.2: ledger entry 'linear-input' admits it but no case shows it"]
    main_table, cases_table = matrix.markdown(loaded, ledger)
    assert "| `linear-input` | made up for the test | 1 | 0 |" in main_table
    assert "| `no-is-dynamic` | observers gained is_dynamic in 2.1 | 2 |  |" in main_table
    assert f"| `{CASE}` | no-is-dynamic linear-input | FAIL |" in cases_table
    # a record naming an entry the ledger lost is caught
    ledger.write_text(IS_DYNAMIC.replace('id = "wide-int16"', 'id = "wide-int16-renamed"'))
    assert any("names 'wide-int16', which the ledger lacks" in p for p in matrix.check(loaded, ledger))


def test_a_run_of_some_families_replaces_their_rows_and_keeps_the_others(tmp_path):
    """`tox -e torch2.10 -- --family pt2e` records the pt2e rows beside the FX rows an
    earlier whole run recorded; a later whole run replaces every row."""
    ledger = tmp_path / "ledger.toml"
    ledger.write_text(IS_DYNAMIC)
    results, records = tmp_path / "results", tmp_path / "records"
    results.mkdir()
    dynamic = "observer on {a -> cat (arg 0)}: is_dynamic False != <absent>"
    whole = _report("2.0.1", [
        {"id": "patterns/cat/x86-static", "status": DIFFER, "verdict": "unexpected", "differences": [dynamic]},
        {"id": "pt2e/ops/conv/xnnpack-static", "status": SKIPPED, "verdict": "conform", "message": "no torchao"}])
    (results / "whole.json").write_text(json.dumps(whole))
    matrix.update(ledger, results, records)
    (results / "whole.json").unlink()
    (results / "pt2e.json").write_text(json.dumps({**_report("2.0.1", [
        {"id": "pt2e/ops/conv/xnnpack-static", "status": CONFORM, "verdict": "conform"},
        {"id": "pt2e/ops/add/xnnpack-static", "status": CONFORM, "verdict": "conform"}]), "pt2e": "torch.ao (torch 2.0.1)"}))
    matrix.update(ledger, results, records)
    [record] = matrix.load_records(records)
    assert record["pt2e"] == "torch.ao (torch 2.0.1)"
    assert {k: v["cell"] for k, v in record["cases"].items()} == {
        "patterns/cat/x86-static": "no-is-dynamic", "pt2e/ops/add/xnnpack-static": "=", "pt2e/ops/conv/xnnpack-static": "="}
    assert record["summary"] == {"ledgered": 1, "same": 2}
    assert record["unused"] == ["linear-input"]  # wide-int16 concerns the rules family, which this record lacks
    (results / "pt2e.json").unlink()
    (results / "whole.json").write_text(json.dumps(whole))
    matrix.update(ledger, results, records)
    [record] = matrix.load_records(records)
    assert sorted(record["cases"]) == ["patterns/cat/x86-static", "pt2e/ops/conv/xnnpack-static"]
    assert record["summary"] == {"ledgered": 1, "skipped": 1}


def test_a_torch_release_paired_with_a_torchao_release_has_a_record_and_a_column_of_its_own(tmp_path):
    """`tox -e torch2.10-torchao0.16` records the pt2e family on torchao 0.16 beside torch
    2.10's own run (torch.ao's pt2e), each judged by the entries for its source; the
    pairing's record holds the pt2e family only, so its release's FX entries are not
    expected there."""
    ledger = tmp_path / "ledger.toml"
    ledger.write_text(IS_DYNAMIC.replace('torch = ">=2.0,<2.2"', 'torch = ">=2.0,<2.11"') + PT2E_SOURCES)
    results, records = tmp_path / "results", tmp_path / "records"
    results.mkdir()
    kwargs = "IUT 'torch' raised AssertionError:  expecting kwargs for aten op IR to be empty"
    classes = "observer on {x -> linear (arg 0)}: class torchao.quantization.pt2e.observer.HistogramObserver != " \
              "torch.ao.quantization.observer.HistogramObserver"
    (results / "torch2.10.json").write_text(json.dumps({**_report("2.10.0+cu128", [
        {"id": CASE, "status": DIFFER, "verdict": "expected", "differences": [DIFFERENCE]},
        {"id": "pt2e/ops/linear/x86-inductor-static", "status": DIFFER, "verdict": "expected", "differences": [classes]},
        {"id": "pt2e/annotations/kwargs/static", "status": ERROR, "verdict": "expected", "message": kwargs},
    ]), "pt2e": "torch.ao (torch 2.10.0+cu128)"}))
    (results / "torch2.10-torchao0.16.json").write_text(json.dumps({**_report("2.10.0+cu128", [
        {"id": "pt2e/ops/linear/x86-inductor-static", "status": CONFORM, "verdict": "conform"},
        {"id": "pt2e/annotations/kwargs/static", "status": ERROR, "verdict": "unexpected", "message": kwargs},
    ]), "pt2e": "torchao 0.16.0"}))
    written = matrix.update(ledger, results, records)
    assert sorted(p.rsplit("/", 1)[1] for p in written) == ["torch-2.10.0+torchao-0.16.0.json", "torch-2.10.0.json"]
    own, paired = matrix.load_records(records)
    assert [matrix.label(own), matrix.label(paired)] == ["2.10.0", "2.10.0 + torchao 0.16.0"]
    assert own["cases"]["pt2e/annotations/kwargs/static"]["cell"] == "fixed-in-torchao-0.16"
    assert own["cases"]["pt2e/ops/linear/x86-inductor-static"]["cell"] == "torch-ao-only"
    # torchao 0.16 has the fix: the same error is a difference no entry for it lists
    assert paired["cases"]["pt2e/annotations/kwargs/static"]["cell"] == "FAIL"
    assert paired["unused"] == ["export"] and own["unused"] == ["export"]
    problems = matrix.check([own, paired], ledger)
    assert "torch 2.10.0 + torchao 0.16.0: pt2e/annotations/kwargs/static fails: an error no ledger entry lists " \
           "for this release" in problems
    assert not any("linear-input" in p and "torchao" in p for p in problems), problems
    assert "torch 2.10.0: ledger entry 'export' admits it but no case shows it" in problems
    main_table, cases_table = matrix.markdown([own, paired], ledger)
    assert "| case | 2.10.0 | 2.10.0 + torchao 0.16.0 |" in cases_table
    assert "| `fixed-in-torchao-0.16` | made up: a fix torchao 0.16 brought | 1 |  |" in main_table
    assert "| `linear-input` | made up for the test | 1 |  |" in main_table


def test_the_committed_table_agrees_with_the_records_and_the_ledger(capsys):
    """docs/matrix.md and docs/matrix/cases.md are what the committed records and the
    ledger give, every recorded cell is accounted for, and every entry that admits a
    recorded release is seen there."""
    assert main(["matrix", "--check"]) == 0, capsys.readouterr().out


def test_suggest_generalises_node_names_and_groups_unlisted_lines(capsys, tmp_path):
    assert matrix.generalise("in standalone module sub: observer on {a -> b (arg 0)}: is_dynamic False != <absent>") == \
        "*observer on *: is_dynamic False != <absent>"
    assert matrix.generalise("missing observer inside module: lstm.cell.igates.weight_fake_quant [X]") == \
        "missing observer inside module: * [X]"
    assert matrix.generalise("observer 2 of 2 on w -> linear (arg 1): weight_col_obs.is_dynamic False != <absent>") == \
        "observer 2 of 2 on *: weight_col_obs.is_dynamic False != <absent>"
    report = _report("2.0.1", [
        {"id": "a/b/x86-static", "status": DIFFER, "verdict": "unexpected",
         "differences": ["observer on x -> y (arg 0): eps 1 != 2", "sharing differs: expected {p}, got {q}"]},
        {"id": "a/c/x86-static", "status": DIFFER, "verdict": "unexpected", "differences": ["observer on z -> w (arg 1): eps 1 != 2"]},
        {"id": "a/d/x86-static", "status": CONFORM, "verdict": "conform"},
        {"id": "a/e/x86-static", "status": ERROR, "verdict": "unexpected", "message": "IUT 'torch' raised KeyError: 3"},
    ])
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    assert matrix.suggest(report, empty) == [("observer on *: eps 1 != 2", ["a/b/x86-static", "a/c/x86-static"]),
                                      ("error: IUT 'torch' raised KeyError: 3", ["a/e/x86-static"]),
                                      ("sharing differs*", ["a/b/x86-static"])]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(report))
    assert main(["matrix", "--suggest", str(path), "--ledger", str(empty)]) == 0
    assert "    2 observer on *: eps 1 != 2\n      e.g. a/b/x86-static, a/c/x86-static" in capsys.readouterr().out


def test_a_line_of_several_attributes_is_judged_one_attribute_at_a_time():
    ledger = _ledger(IS_DYNAMIC + '''
[[divergence]]
id = "reduce-range"
torch = "<2.1"
cases = ["patterns/*"]
outcome = "differs"
differences = ["observer on *: reduce_range False != True"]
change = "made up"
''')
    both = "observer on x -> conv (arg 0): reduce_range False != True; is_dynamic False != <absent>"
    verdict = ledger.judge(Outcome("patterns/conv/x86-static", DIFFER, [both]))
    assert verdict.ok and set(verdict.entries) == {"reduce-range", "no-is-dynamic"}
    three = both + "; quant_max 255 != 127"
    verdict = ledger.judge(Outcome("patterns/conv/x86-static", DIFFER, [three]))
    assert not verdict.ok and "observer on x -> conv (arg 0): quant_max 255 != 127 (in: " in verdict.why


def test_a_case_another_release_cannot_build_is_skipped_but_under_the_goldens_release_it_errs(monkeypatch):
    from models import ConfigPreset, SkipCase
    from models import all_cases
    from conformance import runner
    from conformance.contract import load

    def missing():
        from torch.ao.quantization.qconfig_mapping import _no_such_mapping  # noqa: F401

    base = next(c for c in all_cases() if c.id == CASE)
    case = type(base)(base.recipe, ConfigPreset("x86-static", missing, base.preset.backend_config))
    monkeypatch.setattr(runner, "made_the_goldens", lambda version: False)
    with pytest.raises(SkipCase, match=r"torch .* lacks what the case needs: ImportError: cannot import name '_no_such_mapping'") as skip:
        runner.run_iut(case, load("torch"))
    # the reason names the module, not this machine's path to it: records stay portable
    assert str(skip.value).endswith("from 'torch.ao.quantization.qconfig_mapping'"), str(skip.value)
    monkeypatch.setattr(runner, "made_the_goldens", lambda version: True)
    with pytest.raises(runner.CaseError, match="cannot build case: ImportError"):
        runner.run_iut(case, load("torch"))
