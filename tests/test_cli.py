"""The command line: exit codes, one-line errors, regen's check mode, orphans and
determinism. Runs in-process on small selections of the corpus."""

import shutil

import pytest

from conformance import golden as golden_mod
from conformance.cli import main

SMALL = ["-k", "patterns/linear/", "-k", "patterns/cat/x86-static"]
N_SMALL = 6  # 5 presets of patterns/linear + patterns/cat/x86-static


@pytest.fixture
def golden_copy(tmp_path):
    """A private copy of the bundled goldens, safe to damage."""
    dest = tmp_path / "golden"
    shutil.copytree(golden_mod.default_root(), dest)
    return dest


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_filters_by_glob_and_substring(capsys):
    code, out, _ = run(capsys, "list", "-k", "patterns/*/x86-qat")
    ids = out.split()
    assert code == 0 and ids and all(i.startswith("patterns/") and i.endswith("/x86-qat") for i in ids)
    code, out, _ = run(capsys, "list", "-k", "torchvision/resnet18/")
    assert out.split() == [f"torchvision/resnet18/{p}" for p in sorted(
        ["x86-static", "x86-qat", "qnnpack-static", "fbgemm-static", "onednn-static", "qnnpack-qat", "x86-dynamic",
         "native-fp16", "x86-dynamic-fp16"])]


def test_run_oracle_conforms_with_summary(capsys):
    code, out, _ = run(capsys, "run", "--impl", "torch", *SMALL)
    assert code == 0
    assert out.strip().splitlines()[-1] == f"{N_SMALL} conform, 0 differ, 0 error, 0 skipped"


def test_run_planted_fault_exits_1(capsys):
    code, out, _ = run(capsys, "run", "--impl", "tests.planted:drop_one_observer", "-k", "patterns/linear/x86-static")
    assert code == 1
    assert out.splitlines() == [
        "DIFFER patterns/linear/x86-static (golden != IUT)",
        "    missing observer on x -> linear (arg 0) [HistogramObserver]",
        "0 conform, 1 differ, 0 error, 0 skipped",
    ]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--impl", "torch", "-k", "no-such-case"], "no case matches -k 'no-such-case'"),
        (["show", "patterns/linear/x86-statik"], "unknown case id 'patterns/linear/x86-statik'; did you mean patterns/linear/x86-static?"),
        (["run", "--impl", "no_such_module:prepare"], "IUT 'no_such_module:prepare': cannot import no_such_module"),
        (["run", "--impl", "tests.planted:missing"], "IUT 'tests.planted:missing': tests.planted has no attribute 'missing'"),
        (["run", "--impl", "tests.planted:not_callable"], "IUT 'tests.planted:not_callable': not_callable is not callable"),
        (["run", "--impl", "justaname"], "IUT 'justaname': expected 'torch', 'reference' or 'package.module:callable'"),
        (["explain", "patterns/cat/x86"], "unknown case id 'patterns/cat/x86'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err and err.count("\n") == 1


def test_show_and_diff(capsys):
    code, out, _ = run(capsys, "show", "patterns/linear/x86-static")
    assert code == 0 and "case = patterns/linear/x86-static" in out and "x -> linear (arg 0): obs" in out
    code, out, _ = run(capsys, "diff", "patterns/linear/x86-static", "--impl", "tests.planted:output_observer_qint8")
    assert code == 1
    assert out.splitlines() == [
        "observer on linear -> output (arg 0): dtype quint8 != qint8",
        "patterns/linear/x86-static: 1 difference(s) between the golden and tests.planted:output_observer_qint8 "
        "(each `A != B`: golden != tests.planted:output_observer_qint8)",
    ]
    code, out, _ = run(capsys, "diff", "patterns/linear/x86-static", "--impl", "torch")
    assert code == 0
    code, out, _ = run(capsys, "show", "patterns/linear/x86-static", "--impl", "tests.planted:output_observer_qint8")
    assert code == 0 and "producer = tests.planted:output_observer_qint8" in out
    assert "torch.ao.quantization.observer.HistogramObserver(dtype=qint8" in out


def test_bad_goldens_cost_one_case_each(capsys, golden_copy):
    hand_edited = golden_copy / "patterns/linear/x86-static.plan"
    hand_edited.write_text(hand_edited.read_text().replace("quint8", "qint8", 1))
    other_schema = golden_copy / "patterns/linear/qnnpack-static.plan"
    other_schema.write_text(other_schema.read_text().replace("schema = 2", "schema = 7"))
    (golden_copy / "patterns/linear/x86-qat.plan").write_bytes(b"\x00\xff corrupt")
    (golden_copy / "patterns/linear/x86-dynamic.plan").unlink()
    code, out, _ = run(capsys, "--golden-dir", str(golden_copy), "run", "--impl", "torch", *SMALL)
    lines = out.splitlines()
    assert code == 1
    assert lines[-1] == "2 conform, 0 differ, 4 error, 0 skipped"
    errors = [line for line in lines if line.startswith("ERROR")]
    assert any("x86-static" in e and "edited by hand" in e for e in errors)
    assert any("qnnpack-static" in e and "schema 7 but this obsconf reads schema 2" in e for e in errors)
    assert any("x86-qat" in e and "x86-qat.plan" in e for e in errors)
    assert any("x86-dynamic" in e and "no golden for case patterns/linear/x86-dynamic" in e for e in errors)


def test_regen_check_detects_stale_missing_and_orphans_and_writes_nothing(capsys, golden_copy):
    code, out, _ = run(capsys, "--golden-dir", str(golden_copy), "regen", "--check", *SMALL)
    assert code == 0, out
    stale = golden_copy / "patterns/linear/x86-static.plan"
    stale.write_text(stale.read_text().replace("torch = ", "torch = 0.0.0-", 1))
    (golden_copy / "patterns/cat/x86-static.plan").unlink()
    before = stale.read_text()
    code, out, _ = run(capsys, "--golden-dir", str(golden_copy), "regen", "--check", *SMALL)
    assert code == 1
    assert "STALE patterns/linear/x86-static" in out and "MISSING patterns/cat/x86-static" in out
    assert stale.read_text() == before and not (golden_copy / "patterns/cat/x86-static.plan").exists()
    # orphans are looked for on full runs only; an orphan alone fails --check
    orphan = golden_copy / "patterns/gone/x86-static.plan"
    orphan.parent.mkdir()
    orphan.write_text("whatever")
    assert golden_mod.GoldenStore(golden_copy).orphans({"patterns/linear/x86-static"}).count("patterns/gone/x86-static") == 1


def test_regen_writes_and_is_byte_identical_when_repeated(capsys, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        code, out, _ = run(capsys, "--golden-dir", str(folder), "regen", "-k", "patterns/")
        assert code == 0 and "0 error" in out
    files = sorted(p.relative_to(first) for p in first.rglob("*.plan"))
    assert len(files) == 50
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes()
    # and identical to the bundled goldens: the checked-in ones came from the same oracle
    bundled = golden_mod.default_root()
    assert all((first / rel).read_bytes() == (bundled / rel).read_bytes() for rel in files)


def test_regen_prune_removes_orphans(capsys, tmp_path, monkeypatch):
    store = golden_mod.GoldenStore(tmp_path)
    store.write("patterns/gone/x86-static", "x")
    # a full regen with --prune over a tiny stand-in corpus
    import models
    from conformance import index

    small = tuple(c for c in models.all_cases() if c.id == "patterns/linear/x86-static")
    monkeypatch.setattr(models, "all_cases", lambda: small)
    monkeypatch.setattr(index, "entries", lambda: [(c.id, c.tags) for c in small])
    code, out, _ = run(capsys, "--golden-dir", str(tmp_path), "regen")
    assert code == 0 and "ORPHAN" in out and "1 orphan" in out
    code, out, _ = run(capsys, "--golden-dir", str(tmp_path), "regen", "--check")
    assert code == 1 and "ORPHAN" in out
    code, out, _ = run(capsys, "--golden-dir", str(tmp_path), "regen", "--prune")
    assert code == 0 and "REMOVED orphan" in out
    assert store.stored_ids() == ["patterns/linear/x86-static"]


def test_show_of_a_bad_golden_is_one_error_line(capsys, golden_copy):
    (golden_copy / "patterns/linear/x86-static.plan").unlink()
    code, out, _ = run(capsys, "--golden-dir", str(golden_copy), "show", "patterns/linear/x86-static")
    assert code == 1 and out.startswith("ERROR patterns/linear/x86-static: no golden for case") and out.count("\n") == 1
    wrong = golden_copy / "patterns/linear/qnnpack-static.plan"
    wrong.write_text(wrong.read_text().replace("case = patterns/linear/qnnpack-static", "case = patterns/linear/other"))
    code, out, _ = run(capsys, "--golden-dir", str(golden_copy), "show", "patterns/linear/qnnpack-static")
    assert code == 1 and "ERROR patterns/linear/qnnpack-static:" in out


def test_coverage_measures_the_oracle_and_explains_uncovered_lines(capsys, tmp_path):
    code, out, _ = run(capsys, "coverage", "-k", "patterns/cat/x86-static", "--write", str(tmp_path))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "oracle run: 1 conform, 0 differ, 0 error, 0 skipped"
    prepare_line = next(line for line in lines if line.startswith("prepare.py"))
    assert 0 < float(prepare_line.split()[1].rstrip("%")) < 100
    report = (tmp_path / "oracle-coverage.md").read_text()
    assert "| `prepare.py` |" in report
    # a PT2E-only line is never reached, and the report says why
    assert "| pt2e | `quantization_annotation` exists only on PT2E-annotated graphs" in report


def test_coverage_measures_every_case_of_a_run():
    # a run of several cases would use workers, which coverage.py does not follow
    from conformance import coverage

    result = coverage.measure(["patterns/cat/x86-static", "patterns/linear/x86-static"])
    assert result["run_summary"] == "2 conform, 0 differ, 0 error, 0 skipped"
    entry = coverage._entry(result, "prepare.py")
    source = (coverage.fx_dir() / "prepare.py").read_text().splitlines()
    # only the cat case shares observers (the runner's own warm-up prepares a Linear)
    body = next(i for i, text in enumerate(source, 1) if text.startswith("def _maybe_make_input_output_share_observers("))
    assert set(range(body + 1, body + 30)) & set(entry["executed_lines"])
