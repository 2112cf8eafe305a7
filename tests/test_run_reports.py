"""obsconf run for an implementation that does not conform yet: expectations (expected,
xpass, unused, strict), reports (JSON, JUnit XML, Markdown) and selection."""

import json
import re
import xml.etree.ElementTree as ET

import pytest

from conformance import reports
from conformance.cli import main
from conformance.expectations import Expectations, ExpectationsError

PLANTED = "tests.planted:drop_one_observer"
CASE = "patterns/linear/x86-static"
DIFFERENCE = "missing observer on x -> linear (arg 0) [HistogramObserver]"


def _write(tmp_path, text):
    path = tmp_path / "expect.toml"
    path.write_text(text)
    return str(path)


def test_declared_differences_make_the_run_green_and_one_removed_turns_it_red(tmp_path, capsys):
    full = _write(tmp_path, f'''
[[expect]]
cases = "{CASE}"
outcome = "differs"
reason = "we drop the input observer on purpose"
differences = ["{DIFFERENCE}"]
''')
    assert main(["run", "--impl", PLANTED, "-k", CASE, "--expectations", full]) == 0
    assert "1 expected, 0 xpass, 0 unused" in capsys.readouterr().out
    empty = _write(tmp_path, "")
    assert main(["run", "--impl", PLANTED, "-k", CASE, "--expectations", empty]) == 1
    out = capsys.readouterr().out
    assert f"DIFFER {CASE}" in out and "(no expectation declared)" in out


def test_other_differences_than_declared_fail(tmp_path, capsys):
    path = _write(tmp_path, f'''
[[expect]]
cases = "{CASE}"
outcome = "differs"
reason = "something else"
differences = ["missing observer on y -> z (arg 0) [X]"]
''')
    assert main(["run", "--impl", PLANTED, "-k", CASE, "--expectations", path]) == 1
    assert "differs otherwise than expectation #1" in capsys.readouterr().out


def test_xpass_is_reported_and_fails_only_when_strict_and_unused_entries_are_named(tmp_path, capsys):
    path = _write(tmp_path, f'''
[[expect]]
cases = "{CASE}"
outcome = "differs"
reason = "thought it would"

[[expect]]
cases = ["nothing/*"]
outcome = "error"
reason = "stale"
''')
    assert main(["run", "--impl", "torch", "-k", CASE, "--expectations", path]) == 0
    out = capsys.readouterr().out
    assert f"XPASS {CASE}: conforms, although expectation #1" in out
    assert "UNUSED expectation #2 (nothing/*: error, stale) matched no case of this run" in out
    assert main(["run", "--impl", "torch", "-k", CASE, "--expectations", path, "--strict"]) == 1


def test_skip_expectations_do_not_run_the_case(tmp_path, capsys):
    path = _write(tmp_path, f'[[expect]]\ncases = "{CASE}"\noutcome = "skip"\nreason = "too slow for us"\n')
    assert main(["run", "--impl", "tests.planted:hangs_forever_if_run", "-k", CASE, "--expectations", path]) == 0
    assert "0 conform, 0 differ, 0 error, 1 skipped" in capsys.readouterr().out


@pytest.mark.parametrize("text, message", [
    ("[[expect]]\ncases = 'a'\noutcome = 'differs'\n", "needs a `reason`"),
    ("[[expect]]\ncases = 'a'\noutcome = 'maybe'\nreason = 'r'\n", "`outcome` must be one of"),
    ("[[expect]]\noutcome = 'skip'\nreason = 'r'\n", "`cases` must be a glob"),
    ("[[expect]]\ncases = 'a'\noutcome = 'skip'\nreason = 'r'\ndifferences = ['x']\n", "for outcome \"differs\" only"),
    ("[expect\n", "cannot read"),
])
def test_bad_expectation_files_are_one_line_usage_errors(tmp_path, text, message, capsys):
    path = _write(tmp_path, text)
    with pytest.raises(ExpectationsError, match=message):
        Expectations.load(path)
    assert main(["run", "--impl", "torch", "-k", CASE, "--expectations", path]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "expect.toml" in err


def test_reports(tmp_path):
    args = ["run", "--impl", PLANTED, "-k", "patterns/linear/", "--json", str(tmp_path / "r.json"),
            "--junit", str(tmp_path / "r.xml"), "--markdown", str(tmp_path / "r.md")]
    assert main(args) == 1
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["schema"] == reports.JSON_SCHEMA and data["impl"] == PLANTED
    by_id = {c["id"]: c for c in data["cases"]}
    assert by_id[CASE]["status"] == "differ" and DIFFERENCE in by_id[CASE]["differences"]
    assert sum(data["summary"].values()) == len(data["cases"]) == 5
    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    assert suite.get("tests") == "5"
    failure = suite.find("testcase[@name='linear/x86-static']/failure")
    assert DIFFERENCE in failure.text
    assert int(suite.get("failures")) + int(suite.get("errors")) == sum(
        1 for c in data["cases"] if c["verdict"] == "unexpected")
    markdown = (tmp_path / "r.md").read_text()
    assert "## Per family" in markdown and "| patterns | 5 |" in markdown
    assert "## Per backend" in markdown and "| x86 |" in markdown
    assert f"`{CASE}`: differ" in markdown


def test_selection_by_family_backend_preset_tag_and_last_failed(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("OBSCONF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    # nothing recorded yet: as pytest's --lf, the whole selection runs, and says so
    assert main(["run", "--impl", PLANTED, "-k", "patterns/linear/x86-static", "--last-failed", "-j", "1"]) == 1
    assert "no case of this selection failed" in capsys.readouterr().out
    assert main(["run", "--impl", "torch", "--family", "patterns", "--preset", "qnnpack-static", "-v"]) == 0
    out = capsys.readouterr().out
    assert "CONFORM patterns/cat/qnnpack-static" in out and "x86-static" not in out
    assert main(["run", "--impl", PLANTED, "-k", "patterns/linear/", "--backend", "x86"]) == 1
    out = capsys.readouterr().out
    assert "DIFFER patterns/linear/x86-static" in out and "qnnpack" not in out
    assert main(["run", "--impl", PLANTED, "-k", "patterns/", "--last-failed", "-v"]) == 1
    out = capsys.readouterr().out
    assert out.count("CONFORM") == 0 and out.count("DIFFER ") >= 1
    # a run of other cases forgets none of those failures
    cat = "tests.planted:oracle_without_cat_sharing"
    assert main(["run", "--impl", cat, "-k", "patterns/cat/x86-static", "-j", "1"]) == 1
    assert main(["run", "--impl", cat, "-k", "patterns/linear/x86-static", "-j", "1"]) == 0
    capsys.readouterr()
    assert main(["run", "--impl", cat, "-k", "patterns/", "--last-failed", "-v", "-j", "1"]) == 1
    out = capsys.readouterr().out
    assert "DIFFER patterns/cat/x86-static" in out and out.count("CONFORM") == 0
    assert main(["run", "--impl", "torch", "--tag", "no-such-tag"]) == 2
    assert not (tmp_path / ".obsconf-cache").exists()  # state is not left in the current directory


def test_backend_of_reads_the_preset():
    assert reports.backend_of("zoo/x86/nn.Linear/x86-qat") == "x86"
    assert reports.backend_of("rules/api-forms/default-backend") == "none"
    assert reports.backend_of("hypothesis/0123/qnnpack-static") == "qnnpack"


def test_diff_writes_an_html_page_with_both_graphs(tmp_path, capsys):
    from PIL import Image

    from conformance import picture
    from conformance.cli import find_case
    from conformance.contract import load
    from conformance.golden import GoldenStore
    from conformance.runner import produce_plan

    page, png = tmp_path / "cat.html", tmp_path / "cat.png"
    assert main(["diff", "patterns/cat/x86-static", "--impl", "tests.planted:oracle_without_cat_sharing",
                 "--html", str(page), "--png", str(png)]) == 1
    text = page.read_text()
    assert "sharing differs" in text and "data:image/png;base64," in text
    image = Image.open(png)
    assert image.width > 600 and image.height > 100
    # the red edges are exactly those of the differing sharing group
    expected = GoldenStore().load("patterns/cat/x86-static")
    actual = produce_plan(find_case("patterns/cat/x86-static"), load("tests.planted:oracle_without_cat_sharing"))
    assert {str(e) for e in picture.differing_edges(expected, actual)} == {
        "cat -> output (arg 0)", "conv1 -> cat (arg 0[0])", "conv2 -> cat (arg 0[1])"}
    assert picture.differing_edges(expected, expected) == set()


def test_progress_bar_on_a_terminal_and_plain_lines_elsewhere(monkeypatch):
    import io

    from conformance.progress import Progress

    monkeypatch.setenv("COLUMNS", "200")  # the bar is cut to the terminal's width: give it a wide one

    tty = io.StringIO()
    bar = Progress(4, stream=tty, interactive=True)
    for i in range(4):
        bar.running([f"patterns/cat/case-{i}"])
        bar.advance()
    assert "running patterns/cat/case-3" in tty.getvalue()
    assert "\r[" in tty.getvalue() and "4/4 cases" in tty.getvalue() and "left" in tty.getvalue()
    log = io.StringIO()
    plain = Progress(3, stream=log, interactive=False, every=3600)
    for _ in range(3):
        plain.advance()
    assert log.getvalue().count("\n") == 1 and log.getvalue().startswith("progress: 3/3 cases")


def test_the_readme_example_runs_green_and_turns_red_without_its_expectation(tmp_path, monkeypatch, capsys):
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "docs" / "example"
    monkeypatch.chdir(example)
    args = ["run", "--impl", "cat_unshared:prepare", "--family", "patterns", "--strict", "--quiet-progress"]
    assert main([*args, "--expectations", "expectations.toml", "--junit", str(tmp_path / "r.xml")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "47 conform, 0 differ, 0 error, 0 skipped, 3 expected, 0 xpass, 0 unused expectation(s); "
        "negative cases: 1 of 1 refused as the oracle refuses")
    (tmp_path / "none.toml").write_text("")
    assert main([*args, "--expectations", str(tmp_path / "none.toml")]) == 1
    out = capsys.readouterr().out
    assert out.count("(no expectation declared)") == 3 and "DIFFER patterns/cat/x86-static" in out


def _browser():
    import os
    import shutil

    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("OBSCONF_REQUIRE_BROWSER"):
            pytest.fail("OBSCONF_REQUIRE_BROWSER is set but no chromium is on PATH")
        pytest.skip("no headless browser (Debian's chromium; .ci/run installs it)")
    return found


def _chromium(browser, *args, timeout=120):
    import subprocess

    return subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_the_html_report_renders_in_a_headless_browser(tmp_path, capsys):
    """A run with differences and an error, its report opened as a person would: the
    rendered index lists them with links that resolve, a case page shows its differences
    and the pictures (red on both sides)."""
    from PIL import Image

    browser = _browser()
    folder = tmp_path / "report"
    code = main(["run", "--impl", "tests.planted:oracle_without_cat_sharing", "-k", "patterns/cat/", "-k",
                 "patterns/linear/", "--html", str(folder), "--quiet-progress"])
    assert code == 1 and f"wrote {folder / 'index.html'}" in capsys.readouterr().out
    dom = _chromium(browser, "--dump-dom", (folder / "index.html").as_uri()).stdout
    assert "7 conform, 3 differ, 0 error, 0 skipped" in dom
    links = re.findall(r'href="(cases/[^"]+)"', dom)
    assert len(links) == 3 and all((folder / link).is_file() for link in links)
    page = folder / links[-1]
    case_dom = _chromium(browser, "--dump-dom", page.as_uri()).stdout
    assert "sharing differs" in case_dom and 'href="../index.html"' in case_dom and 'rel="prev"' in case_dom
    shot = tmp_path / "case.png"
    _chromium(browser, f"--screenshot={shot}", "--window-size=1400,900", page.as_uri())
    image = Image.open(shot).convert("RGB")
    width, height = image.size
    reds = [(x, y) for x in range(0, width, 2) for y in range(0, height, 2)
            if (lambda p: p[0] > 150 and p[1] < 90 and p[2] < 90)(image.getpixel((x, y)))]
    assert reds, "nothing red rendered: neither the status nor the differing edges"
    # red in the picture's left half (the golden) and in its right half (the IUT)
    picture_reds = [x for x, y in reds if y > 250]
    assert min(picture_reds) < width // 2 < max(picture_reds)


def test_reports_carry_durations_and_error_messages(tmp_path):
    args = ["run", "--impl", "tests.planted:raises", "-k", "patterns/linear/x86-static", "-j", "1",
            "--json", str(tmp_path / "r.json"), "--junit", str(tmp_path / "r.xml"), "--markdown", str(tmp_path / "r.md")]
    assert main(args) == 1
    [entry] = json.loads((tmp_path / "r.json").read_text())["cases"]
    assert entry["seconds"] > 0 and "planted failure" in entry["message"] and "Traceback" in entry["detail"]
    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    assert float(suite.find("testcase").get("time")) > 0 and float(suite.get("time")) > 0
    assert "IUT 'tests.planted:raises' raised RuntimeError: planted failure" in (tmp_path / "r.md").read_text()


def test_a_report_that_cannot_be_written_costs_that_report_not_the_summary(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["run", "--impl", "reference", "-k", "patterns/linear/x86-static", "-j", "1",
                 "--json", str(blocker / "r.json"), "--markdown", str(tmp_path / "r.md"), "--quiet-progress"]) == 2
    captured = capsys.readouterr()
    assert captured.out.strip().endswith("1 conform, 0 differ, 0 error, 0 skipped")
    assert captured.err.startswith(f"obsconf: error: cannot write the json report {blocker / 'r.json'}: ")
    assert (tmp_path / "r.md").is_file()


def test_pdb_stops_where_the_iut_raised(tmp_path):
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "conformance", "run", "--impl", "tests.planted:raises", "-k",
                           "patterns/linear/x86-static", "--pdb"], input="p 6 * 7\nq\n", capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, OBSCONF_CACHE_DIR=str(tmp_path)))
    assert "(Pdb)" in done.stdout and "42" in done.stdout and "planted.py" in done.stdout
    assert done.returncode == 1 and "ERROR patterns/linear/x86-static" in done.stdout
