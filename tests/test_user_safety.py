"""What a user can type or hand over, and what a crash, a signal or a full disk does:
nothing the user made is lost or written outside where they said, and every failure is
one line with the promised exit code."""

from __future__ import annotations

import shutil

import pytest

from conformance.cli import main
from conformance.golden import GoldenStore

from .test_isolation import _interrupt_after


def _goldens(tmp_path, pattern="patterns/cat/"):
    folder = tmp_path / "goldens"
    assert main(["--golden-dir", str(folder), "regen", "-k", pattern]) == 0
    return folder


def test_a_golden_folder_that_is_not_there_is_one_setup_error_naming_the_regen_that_makes_it(tmp_path, capsys):
    missing = tmp_path / "nope"
    for command in (["run", "--impl", "reference", "-k", "patterns/cat/"], ["show", "patterns/cat/x86-static"],
                    ["diff", "patterns/cat/x86-static", "--impl", "reference"], ["regen", "--check", "-k", "patterns/cat/"]):
        assert main(["--golden-dir", str(missing), *command]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.strip() == (f"obsconf: error: golden folder {missing} does not exist "
                                        f"(make its goldens with `obsconf --golden-dir {missing} regen`)")
    assert not missing.exists()


def test_a_missing_golden_names_the_regen_that_writes_into_the_chosen_folder(tmp_path, capsys):
    folder = _goldens(tmp_path)
    (folder / "patterns" / "cat" / "x86-static.plan").unlink()
    capsys.readouterr()
    assert main(["--golden-dir", str(folder), "run", "--impl", "reference", "-k", "patterns/cat/x86-static", "-j", "1"]) == 1
    assert f"`obsconf --golden-dir {folder} regen -k patterns/cat/x86-static`" in capsys.readouterr().out


def test_an_orphan_inside_a_k_selection_is_reported_and_pruned(tmp_path, capsys):
    folder = _goldens(tmp_path)
    orphan = folder / "patterns" / "cat" / "gone-preset.plan"
    shutil.copy(folder / "patterns" / "cat" / "x86-static.plan", orphan)
    capsys.readouterr()
    assert main(["--golden-dir", str(folder), "regen", "--check", "-k", "patterns/cat/"]) == 1
    out = capsys.readouterr().out
    assert f"ORPHAN {orphan}" in out and ", 1 orphan," in out
    assert main(["--golden-dir", str(folder), "regen", "--prune", "-k", "patterns/cat/"]) == 0
    assert not orphan.exists() and f"REMOVED orphan {orphan}" in capsys.readouterr().out
    # an orphan outside the selection is neither reported nor touched
    shutil.copy(folder / "patterns" / "cat" / "x86-static.plan", orphan)
    assert main(["--golden-dir", str(folder), "regen", "--prune", "-k", "patterns/linear/"]) == 0
    assert orphan.exists()


def test_a_second_regen_on_one_folder_is_refused(tmp_path, capsys):
    folder = _goldens(tmp_path)
    capsys.readouterr()
    with GoldenStore(folder).writing():
        assert main(["--golden-dir", str(folder), "regen", "-k", "patterns/cat/"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"obsconf: error: another `obsconf regen` is writing {folder}: wait for it to finish")
    assert main(["--golden-dir", str(folder), "regen", "-k", "patterns/cat/"]) == 0  # free again


def test_a_golden_that_cannot_be_written_is_one_error_saying_what_was_not_regenerated(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "goldens"

    def refuse(self, case_id, text):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(GoldenStore, "write", refuse)
    assert main(["--golden-dir", str(folder), "regen", "-k", "patterns/cat/"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"obsconf: error: cannot write golden {folder}/patterns/cat/")
    assert err.endswith("Permission denied; 5 case(s) from patterns/cat/native-fp16 on not regenerated")


def test_ctrl_c_during_regen_leaves_every_golden_old_or_new_and_says_which_were_not_done(tmp_path):
    folder = tmp_path / "goldens"
    code, out, err = _interrupt_after(["--golden-dir", str(folder), "regen", "-k", "zoo/x86/"], 3, tmp_path)
    assert code == 130, err
    assert "Traceback" not in err
    assert "INTERRUPTED: " in out and "not regenerated (each golden on disk is the old one or the new one)" in out
    store = GoldenStore(folder)
    written = store.stored_ids()
    assert len(written) >= 3 and all(store.load(case_id) for case_id in written)
    assert not list(folder.rglob("*.tmp"))


def test_a_cache_folder_that_cannot_be_written_costs_a_warning_not_the_results(tmp_path, capsys, monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("OBSCONF_CACHE_DIR", str(blocked))
    assert main(["run", "--impl", "reference", "-k", "patterns/cat/x86-static", "-j", "1"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip().endswith("1 conform, 0 differ, 0 error, 0 skipped")
    assert "obsconf: warning: cannot write the cache file" in captured.err and "Traceback" not in captured.err


@pytest.mark.parametrize("flag", ["--tb", None])
def test_an_iut_error_is_one_line_and_its_traceback_and_output_come_with_tb(capsys, flag):
    command = ["run", "--impl", "tests.planted:prints_and_raises", "-k", "patterns/cat/x86-static", "-j", "1"]
    assert main(command + ([flag] if flag else [])) == 1
    out = capsys.readouterr().out
    assert "ERROR patterns/cat/x86-static: IUT 'tests.planted:prints_and_raises' raised KeyError: 'activation_post_process_3'" in out
    assert "chatter" not in out.split("\n")[0]
    if flag:
        assert "    | Traceback (most recent call last):" in out and "planted.py" in out
        assert "    | --- what the IUT printed ---" in out and "[... " in out  # megabytes, kept short
        assert "conformance/runner.py" not in out  # the suite's own frame is left out
    else:
        assert "Traceback" not in out and "chatter" not in out


def test_the_captured_output_answers_as_a_text_stream_does(capsys):
    """An IUT (or a library under it) may ask its output stream isatty, encoding or fileno."""
    command = ["run", "--impl", "tests.planted:asks_what_its_output_is", "-k", "patterns/cat/x86-static", "-j", "1"]
    assert main(command) == 0
    captured = capsys.readouterr()
    assert captured.out.strip().endswith("1 conform, 0 differ, 0 error, 0 skipped") and "asked" not in captured.err


def test_exitfirst_stops_at_the_first_failing_case(capsys):
    assert main(["run", "--impl", "tests.planted:raises", "-k", "patterns/cat/", "-x", "-j", "1"]) == 1
    out = capsys.readouterr().out
    assert out.count("ERROR ") == 1 and "STOPPED at the first failure (patterns/cat/native-fp16, -x)" in out
    assert out.strip().endswith("0 conform, 0 differ, 1 error, 0 skipped, 4 not run")


def test_a_corrupt_frozen_case_keeps_its_id_and_its_golden(tmp_path, monkeypatch, capsys):
    from models import hypothesis_graphs

    frozen = tmp_path / "generated"
    frozen.mkdir()
    original = hypothesis_graphs.frozen_files()[0]
    damaged = frozen / original.name
    damaged.write_text(original.read_text()[: len(original.read_text()) // 2])  # cut in half
    recipe = hypothesis_graphs._broken_recipe(damaged, "unreadable generated case")
    [case_id] = [f"{recipe.family}/{recipe.name}/{p.name}" for p in recipe.presets]
    golden = [i for i in GoldenStore().stored_ids() if i.startswith(f"hypothesis/{original.stem}/")]
    assert [case_id] == golden  # the same id as the intact file's case: its golden is no orphan
    damaged.write_text("{{{ nothing to make out")
    assert hypothesis_graphs._broken_recipe(damaged, "x").presets[0].name == hypothesis_graphs.BROKEN


def test_list_excluded_with_a_pattern_matching_nothing_is_a_usage_error(capsys):
    assert main(["list", "--excluded", "-k", "zzz"]) == 2
    assert "nothing left out matches -k 'zzz'" in capsys.readouterr().err
    assert main(["list", "--excluded", "-k", "torchvision/"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["fuzz", "--impl", "reference", "--examples", "-1"], "argument --examples: -1: give 1 or more"),
    (["invariants", "--impl", "reference", "--examples", "0"], "argument --examples: 0: give 1 or more"),
    (["run", "--impl", "reference", "--timeout", "-1"], "argument --timeout: -1: give 0 (no limit) or more"),
    (["run", "--impl", "reference", "--max-memory", "-5"], "argument --max-memory: -5: give 0 (no limit) or more"),
    (["strength", "-j", "0"], "argument -j/--jobs: 0: give 1 or more"),
])
def test_numbers_out_of_range_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2 and message in capsys.readouterr().err


def test_matrix_results_that_are_not_there_is_a_usage_error_and_writes_nothing(tmp_path, capsys):
    from conformance import matrix

    before = matrix.TABLE.read_text()
    assert main(["matrix", "--results", str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert matrix.TABLE.read_text() == before


def test_ctrl_c_in_any_other_command_is_one_line_and_130(monkeypatch, capsys):
    from conformance import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_list", interrupted)
    assert main(["list"]) == 130
    assert capsys.readouterr().err.strip() == "obsconf: list interrupted"


def test_diff_names_the_picture_file_it_cannot_write(tmp_path, capsys):
    page, picture = tmp_path / "page.html", tmp_path / "picture.unknown-suffix"
    assert main(["diff", "patterns/cat/x86-static", "--impl", "tests.planted:oracle_without_cat_sharing",
                 "--html", str(page), "--png", str(picture)]) == 2
    captured = capsys.readouterr()
    assert f"wrote {page}" in captured.out and page.is_file()
    assert captured.err.startswith(f"obsconf: error: cannot write {picture}: ")
