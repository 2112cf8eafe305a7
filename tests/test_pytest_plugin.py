"""The pytest plugin, as another project uses it: installed by entry point, `pytest
--obsconf-impl IUT` collects the corpus, expectations turn declared differences into
xfails, and pytest-xdist (`-n 2`) gives the same results."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "example"


@pytest.fixture
def project(tmp_path):
    """A project of someone else's: their IUT and expectations, no tests of their own."""
    for name in ("cat_unshared.py", "expectations.toml"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    return tmp_path


def _pytest(project, *args):
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rxXs",
                           "--obsconf-impl", "cat_unshared:prepare", "-k", "patterns/cat/ or patterns/linear/", *args],
                          cwd=project, capture_output=True, text=True, timeout=900)
    return done.returncode, done.stdout


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_declared_differences_are_xfails(project, workers):
    code, out = _pytest(project, "--obsconf-expectations", "expectations.toml", *workers)
    assert code == 0, out
    assert re.search(r"7 passed, (\d+ deselected, )?3 xfailed", out), out
    assert "XFAIL ::test_case[patterns/cat/x86-static] - expected differs: cat's inputs and output" in out


def test_without_expectations_the_differences_fail(project):
    code, out = _pytest(project)
    assert code == 1
    assert re.search(r"3 failed, 7 passed", out), out
    assert "sharing differs" in out


def test_strict_turns_an_xpass_red(project):
    (project / "expectations.toml").write_text(
        '[[expect]]\ncases = "patterns/linear/x86-static"\noutcome = "differs"\nreason = "wrongly declared"\n'
        '[[expect]]\ncases = ["patterns/cat/x86-static", "patterns/cat/x86-qat", "patterns/cat/qnnpack-static"]\n'
        'outcome = "differs"\nreason = "deliberate"\n'
        '[[expect]]\ncases = "nothing/*"\noutcome = "skip"\nreason = "stale"\n')
    code, out = _pytest(project, "--obsconf-expectations", "expectations.toml")
    assert code == 0 and "1 xpassed" in out
    assert "obsconf: UNUSED expectation #3 (nothing/*: skip, stale) matched no case of this run" in out
    code, out = _pytest(project, "--obsconf-expectations", "expectations.toml", "--obsconf-strict")
    assert code == 1 and "[XPASS(strict)] expected differs: wrongly declared" in out


def _pytest_raw(project, *args):
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
                          cwd=project, capture_output=True, text=True, timeout=900)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("bad, message", [
    (["--obsconf-impl", "no_such_module:prepare"], "obsconf: IUT 'no_such_module:prepare': cannot import no_such_module"),
    (["--obsconf-impl", "cat_unshared:prepare", "--obsconf-expectations", "missing.toml"], "obsconf: "),
    (["--obsconf-impl", "cat_unshared:prepare", "--obsconf-golden-dir", "nope"], "obsconf: golden folder nope does not exist"),
    (["--obsconf-impl", "cat_unshared:prepare", "--obsconf-cases", "nope"], "obsconf: --obsconf-cases nope: no such folder"),
], ids=["iut", "expectations", "golden-dir", "cases"])
def test_a_setup_problem_is_one_usage_error_not_an_error_per_case(project, bad, message):
    code, out, err = _pytest_raw(project, *bad, "-k", "patterns/cat/")
    assert code == 4, out + err
    lines = [line for line in err.splitlines() if "obsconf: " in line]
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err and "passed" not in out and "error" not in out.lower().replace("errors", "")


def test_a_failure_shows_the_differences_not_the_suites_source(project):
    code, out = _pytest(project, "-k", "patterns/cat/x86-static")
    assert code == 1 and "sharing differs" in out
    assert "suite.py" not in out.replace("conformance/suite.py::test_case", "") and "def test_case" not in out


def test_the_plugins_timeout_fails_the_case_that_hangs(project):
    shutil.copy(Path(__file__).with_name("planted.py"), project / "planted.py")
    code, out, err = _pytest_raw(project, "--obsconf-impl", "planted:hangs_on_one_case", "--obsconf-timeout", "5",
                                 "-k", "patterns/cat/")
    assert code == 1, out + err
    assert re.search(r"1 failed, 4 passed", out), out
    assert "ERROR patterns/cat/x86-qat: timed out after 5 s" in out


def test_the_plugins_convert_option_checks_the_converted_models(project):
    """A state fault the plan misses nowhere, seen by --obsconf-convert too: the failing item
    shows the plan's line and the convert line."""
    shutil.copy(Path(__file__).with_name("planted.py"), project / "planted.py")
    code, out, err = _pytest_raw(project, "--obsconf-impl", "planted:forgets_weight_indexes", "--obsconf-convert",
                                 "-k", "patterns/functional-linear/x86-dynamic or patterns/linear/x86-static")
    assert code == 1, out + err
    assert re.search(r"1 failed, 1 passed", out), out
    assert "weight and bias arguments of linear" in out and "convert (convert_to_reference_fx, uncalibrated)" in out


def test_rejections_class_loosens_refusals_for_the_plugin(tmp_path):
    """--obsconf-rejections class: an IUT that words its refusals its own way passes the
    negative cases; without it they fail naming both messages."""
    (tmp_path / "own_words.py").write_text(
        "from conformance.contract import oracle_prepare\n\n"
        "def prepare(model, qconfig_mapping, example_inputs, **kwargs):\n"
        "    try:\n"
        "        return oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)\n"
        "    except Exception as exc:\n"
        "        raise type(exc)('not supported here') from None\n")
    # not the two sharing-walk refusals: graphs of 10,000 nodes, seconds a run (test_rejections runs them)
    args = ["--obsconf-impl", "own_words:prepare", "-k", "negative/ and not sharing-walk or zoo/onednn/nn.ConvTranspose2d/"]
    code, out, _ = _pytest_raw(tmp_path, *args)
    assert code == 1 and "rejects differently: AssertionError: Per channel weight" in out, out
    code, out, _ = _pytest_raw(tmp_path, *args, "--obsconf-rejections", "class")
    assert code == 0, out
    from models import all_cases

    chosen = [c for c in all_cases() if c.id.startswith(("negative/", "zoo/onednn/nn.ConvTranspose2d/"))
              and "sharing-walk" not in c.id]
    assert re.search(rf"\b{len(chosen)} passed", out), out
