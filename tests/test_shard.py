"""Spreading a run over machines: `--shard K/N` parts are exactly the selection, balanced
by measured cost and the same everywhere; `obsconf matrix` merges the parts' reports
into what one run reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance import matrix, shard
from conformance.cli import main


def _listed(capsys, *argv) -> list[str]:
    assert main(["list", *argv]) == 0
    return capsys.readouterr().out.split()


def test_the_parts_of_the_corpus_are_exactly_the_corpus_balanced_by_cost(capsys):
    everything = _listed(capsys)
    parts = [_listed(capsys, "--shard", f"{k}/4") for k in range(1, 5)]
    assert sorted(sum(parts, [])) == sorted(everything)
    assert len(set(sum(parts, []))) == len(everything)  # no case in two parts
    costs = shard.load_costs()
    assert len(costs) > 0.9 * len(everything), "conformance/case_costs.json should cover the corpus"
    default = sorted(costs.values())[len(costs) // 2]
    loads = [sum(costs.get(i, default) for i in part) for part in parts]
    assert max(loads) - min(loads) <= max(costs.values())  # as even as one case allows


def test_a_part_is_the_same_whatever_the_order_of_the_selection():
    ids = [f"family/case{i}/x86-static" for i in range(50)]
    costs = {i: float(n % 7 + 1) for n, i in enumerate(ids)}
    forward = shard.partition(ids, 3, costs)
    assert shard.partition(list(reversed(ids)), 3, costs) == forward
    assert sorted(sum(forward, [])) == sorted(ids)


@pytest.mark.parametrize("text", ["0/4", "5/4", "x", "1/0", "2"])
def test_a_shard_that_is_not_k_of_n_is_a_usage_error(text, capsys):
    assert main(["list", "--shard", text]) == 2
    assert "expected K/N with 1 <= K <= N" in capsys.readouterr().err


def _strip(report: dict) -> dict:
    cases = sorted(({k: v for k, v in e.items() if k != "seconds"} for e in report["cases"]), key=lambda e: e["id"])
    return {"summary": report["summary"], "cases": cases, "torch": report["torch"]}


def test_the_merged_reports_of_the_parts_equal_the_single_runs(tmp_path, capsys):
    select = ["-k", "patterns/", "--impl", "tests.planted:oracle_without_cat_sharing", "--quiet-progress"]
    assert main(["run", *select, "--json", str(tmp_path / "whole.json")]) == 1
    for k in (1, 2, 3):
        main(["run", *select, "--shard", f"{k}/3", "--json", str(tmp_path / "parts" / f"m{k}" / f"shard{k}.json")])
    capsys.readouterr()
    reports = [(p, json.loads(p.read_text())) for p in sorted((tmp_path / "parts").rglob("*.json"))]
    assert [r["shard"] for _, r in reports] == ["1/3", "2/3", "3/3"]
    merged, source = matrix.merge_shards(reports)
    assert source.startswith("3 shards")
    assert _strip(merged) == _strip(json.loads((tmp_path / "whole.json").read_text()))


def test_missing_or_doubled_parts_are_refused_by_name(tmp_path):
    report = {"schema": 1, "impl": "torch", "torch": "2.14.1", "torchvision": None, "summary": {"conform": 1}}
    one = (Path("a.json"), dict(report, shard="1/3", cases=[{"id": "x/a/b", "status": "conform"}]))
    three = (Path("c.json"), dict(report, shard="3/3", cases=[{"id": "x/c/b", "status": "conform"}]))
    with pytest.raises(matrix.MatrixError, match=r"missing \[2\]"):
        matrix.merge_shards([one, three])
    with pytest.raises(matrix.MatrixError, match="reported twice"):
        matrix.merge_shards([one, one, three])
    with pytest.raises(matrix.MatrixError, match="is a whole run"):
        matrix.merge_shards([one, (Path("w.json"), dict(report, cases=[]))])


def test_costs_merge_keeps_what_the_reports_do_not_list(tmp_path):
    costs = tmp_path / "costs.json"
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"cases": [{"id": "a/x/p", "seconds": 2.0, "status": "conform"},
                                         {"id": "b/y/p", "seconds": 3.0, "status": "conform"}]}))
    new = tmp_path / "new.json"
    new.write_text(json.dumps({"cases": [{"id": "b/y/p", "seconds": 5.0, "status": "conform"},
                                         {"id": "c/z/p", "seconds": 1.0, "status": "conform"}]}))
    shard.write_costs([old], costs)
    assert shard.write_costs([new], costs, merge=True) == (costs, 3)
    assert shard.load_costs(costs) == {"a/x/p": 2.0, "b/y/p": 5.0, "c/z/p": 1.0}
    assert shard.write_costs([new], costs) == (costs, 2)  # without merge: the reports alone
