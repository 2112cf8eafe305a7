"""The GitHub Actions workflow that runs the behaviour matrix as jobs (release x shard):
valid against GitHub's workflow schema, clean under zizmor's audits, and covering every
tox environment and every shard, each job's report under a name of its own."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "matrix.yml"


def _tox_envs() -> list[str]:
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    return re.split(r"[\s,]+", tox["tox"]["envlist"].strip())


def _releases() -> list[str]:
    return [e for e in _tox_envs() if e.startswith("torch") and "-torchao" not in e]


def _pairings() -> list[str]:
    return [e for e in _tox_envs() if e.startswith("torch") and "-torchao" in e]


def _pythons() -> list[str]:
    return [e for e in _tox_envs() if e.startswith("py")]


def test_the_workflow_is_valid_against_githubs_schema():
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           str(WORKFLOW)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_workflow_passes_zizmors_audits():
    zizmor = Path(sys.executable).with_name("zizmor")
    done = subprocess.run([str(zizmor), "--offline", str(WORKFLOW)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_jobs_are_every_release_times_every_shard_with_reports_apart():
    flow = YAML(typ="safe").load(WORKFLOW.read_text())
    job = flow["jobs"]["shard"]
    shards = int(flow["env"]["SHARDS"])
    assert job["strategy"]["matrix"]["env"] == _releases()
    assert job["strategy"]["matrix"]["shard"] == list(range(1, shards + 1))
    assert job["name"].endswith(f"/{shards}")
    run = next(s for s in job["steps"] if "tox -e" in s.get("run", ""))
    assert '--shard "${{ matrix.shard }}/${{ env.SHARDS }}"' in run["run"]
    report = run["env"]["OBSCONF_REPORT"]
    assert "${{ matrix.env }}" in report and "${{ matrix.shard }}" in report  # one file per job
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == f".obsconf-cache/matrix/{report}.json"
    table = flow["jobs"]["table"]
    assert table["needs"] == ["shard", "pairing"]
    assert any("obsconf matrix --results reports" in s.get("run", "") for s in table["steps"])
    # tox names the report after OBSCONF_REPORT, and a shard job only checks the records
    tox = (ROOT / "tox.ini").read_text()
    assert "{env:OBSCONF_REPORT:{envname}}.json" in tox and "matrix {env:OBSCONF_MATRIX_FLAGS:}" in tox
    assert run["env"]["OBSCONF_MATRIX_FLAGS"] == "--check"


def test_every_torchao_pairing_has_a_job_whose_report_the_table_merges():
    flow = YAML(typ="safe").load(WORKFLOW.read_text())
    job = flow["jobs"]["pairing"]
    assert job["strategy"]["matrix"]["env"] == _pairings() != []
    run = next(s for s in job["steps"] if "tox -e" in s.get("run", ""))
    assert run["run"] == 'tox -e "${{ matrix.env }}"' and run["env"]["OBSCONF_MATRIX_FLAGS"] == "--check"
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == ".obsconf-cache/matrix/${{ matrix.env }}.json"  # tox's {envname}
    assert upload["with"]["name"].startswith("report-")  # what the table job downloads


def test_every_other_python_has_a_job():
    flow = YAML(typ="safe").load(WORKFLOW.read_text())
    job = flow["jobs"]["python"]
    assert [f"py{v}" for v in job["strategy"]["matrix"]["python"]] == _pythons() != []
    assert any('tox -e "py${{ matrix.python }}"' in s.get("run", "") for s in job["steps"])
