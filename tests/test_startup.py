"""Start-up: the commands that only list or look up cases answer without importing torch
(that import is most of the 3 s a command used to take), from a case index that is
rebuilt when anything it depends on changes. Times are figures
(`python -m tests.benchmarks.startup`); what is tested is that torch stays unloaded."""

import json
import subprocess
import sys

import pytest

from conformance import index

COMMANDS = [
    ["--help"],
    ["list"],
    ["list", "--tags", "-k", "patterns/cat"],
    ["list", "-k", "no-such-case"],
    ["show", "patterns/cat/x86-static"],
    ["show", "patterns/cat/x86-statc"],
    ["explain", "no/such/case"],
    ["diff", "no/such/case", "--impl", "reference"],
    ["run", "--impl", "reference", "-k", "no-such-case"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_listing_and_usage_errors_do_not_import_torch(argv):
    index.entries()  # the index exists, as after any first command
    script = ("import sys\nfrom conformance.cli import main\n"
              "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
              "print('TORCH', 'torch' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=120)
    assert done.stderr.strip().splitlines()[-1] == "TORCH False", done.stderr


def test_the_index_lists_what_the_corpus_has():
    from models import all_cases

    assert index.entries() == [(c.id, tuple(c.tags)) for c in all_cases()]


def test_a_change_under_models_gives_another_digest(tmp_path, monkeypatch):
    (tmp_path / "recipes.py").write_text("A = 1\n")
    monkeypatch.setattr(index, "MODELS", tmp_path)
    before = index.digest()
    (tmp_path / "recipes.py").write_text("A = 2\n")
    assert index.digest() != before
    changed = index.digest()
    (tmp_path / "generated").mkdir()
    (tmp_path / "generated" / "case.json").write_text("{}")
    assert index.digest() != changed


def test_an_unreadable_index_is_rebuilt_and_a_read_only_one_only_not_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("OBSCONF_CACHE_DIR", str(tmp_path))
    expected = index.entries()
    path = tmp_path / "case-index" / f"{index.digest()}.json"
    assert json.loads(path.read_text())["cases"][0][0] == expected[0][0]
    path.write_text("{ torn")
    index._entries.cache_clear()  # as a new process would
    assert index.entries() == expected
    assert json.loads(path.read_text())["schema"] == index.SCHEMA
    path.unlink()
    (tmp_path / "case-index").chmod(0o500)
    index._entries.cache_clear()
    try:
        assert index.entries() == expected
    finally:
        (tmp_path / "case-index").chmod(0o700)


def test_the_indexes_of_two_corpora_in_use_both_stay(tmp_path, monkeypatch):
    """With and without a user's cases folder are two corpora; building one's index must
    not delete the other's (a later command would import torch to rebuild it)."""
    monkeypatch.setenv("OBSCONF_CACHE_DIR", str(tmp_path))
    index.entries()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "cases.json").write_text("[]")
    monkeypatch.setenv("OBSCONF_CASES", str(mine))
    index.entries()
    assert len(list((tmp_path / "case-index").glob("*.json"))) == 2
