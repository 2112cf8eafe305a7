"""Reports of a run: JUnit XML (one testcase per case, the differences in the failure
text), JSON (machine-readable, schema-versioned) and a Markdown summary per family and
per backend. All are written atomically."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from . import __version__
from .golden import write_atomic
from .expectations import EXPECTED, UNEXPECTED, XPASS, Verdict
from .runner import CONFORM, DIFFER, ERROR, SKIPPED

JSON_SCHEMA = 1
COLUMNS = (CONFORM, DIFFER, ERROR, SKIPPED, EXPECTED, XPASS)


def family_of(case_id: str) -> str:
    return case_id.split("/", 1)[0]


def backend_of(case_id: str) -> str:
    """The backend a case's preset names (`x86-static` -> x86); `default-backend` runs
    without a backend config: none."""
    backend = case_id.rsplit("/", 1)[-1].split("-", 1)[0]
    return "none" if backend == "default" else backend


def _entry(verdict: Verdict) -> dict:
    o = verdict.outcome
    entry = {"id": o.case_id, "status": o.status, "verdict": verdict.kind, "seconds": round(o.seconds, 3)}
    if o.differences:
        entry["differences"] = o.differences
    if o.message:
        entry["message"] = o.message
    if o.detail:
        entry["detail"] = o.detail
    if verdict.expectation is not None:
        entry["expectation"] = {"index": verdict.expectation.index, "outcome": verdict.expectation.outcome,
                                "reason": verdict.expectation.reason}
    if verdict.entries:
        entry["ledger"] = list(verdict.entries)
    if verdict.why:
        entry["why"] = verdict.why
    return entry


def torchvision_version() -> str | None:
    try:
        import torchvision
    except Exception:  # absent, or built for another torch
        return None
    return torchvision.__version__


def counts(verdicts: list[Verdict]) -> dict[str, int]:
    """Per status, with declared differences and errors counted as `expected` and
    conforming cases declared not to conform as `xpass`."""
    c = Counter()
    for v in verdicts:
        skipped = v.outcome.status == SKIPPED  # a declared skip is a skip
        c[v.kind if v.kind in (EXPECTED, XPASS) and not skipped else v.outcome.status] += 1
    return {k: c[k] for k in COLUMNS}


def negative_counts(verdicts: list[Verdict]) -> tuple[int, int]:
    """(negative cases run, those refused as the oracle refuses): the cases tagged `rejects`."""
    from . import index
    from .outcome import REJECTS

    negative = {case_id for case_id, tags in index.entries() if REJECTS in tags}
    ran = [v for v in verdicts if v.outcome.case_id in negative]
    return len(ran), sum(v.outcome.status == CONFORM for v in ran)


def to_json(verdicts: list[Verdict], impl: str, strict: bool, not_run: list[str], shard: str | None = None) -> str:
    data = {
        "schema": JSON_SCHEMA,
        "suite": __version__,
        "torch": _torch_version(),
        "torchvision": torchvision_version(),
        "impl": impl,
        "strict": strict,
        "summary": counts(verdicts),
        "negative": dict(zip(("cases", "conform"), negative_counts(verdicts))),
        "cases": [_entry(v) for v in verdicts],
    }
    pt2e = _pt2e_version(verdicts)
    if pt2e:  # what the pt2e cases ran on: torchao's pt2e or torch.ao's (torch 2.1 ... 2.10)
        data["pt2e"] = pt2e
    if not_run:  # an interrupted run: these cases have no outcome
        data["not_run"] = list(not_run)
    if shard:  # one part of a run spread over machines (`obsconf matrix` merges the parts)
        data["shard"] = shard
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def to_junit(verdicts: list[Verdict], impl: str, strict: bool, not_run: list[str], shard: str | None = None) -> str:
    suite = ET.Element("testsuite", name=f"obsconf ({impl})")
    failures = errors = skipped = 0
    for v in verdicts:
        o = v.outcome
        family, _, rest = o.case_id.partition("/")
        case = ET.SubElement(suite, "testcase", classname=f"obsconf.{family}", name=rest, time=f"{o.seconds:.3f}")
        if v.kind == EXPECTED:
            skipped += 1
            ET.SubElement(case, "skipped", message=f"expected {o.status}: {v.expectation.reason}")
        elif o.status == SKIPPED:
            skipped += 1
            ET.SubElement(case, "skipped", message=o.message)
        elif v.kind == XPASS:
            if strict:
                failures += 1
                ET.SubElement(case, "failure", message=v.why).text = v.why
            else:
                ET.SubElement(case, "system-out").text = f"XPASS: {v.why}"
        elif v.kind == UNEXPECTED and o.status == ERROR:
            errors += 1
            ET.SubElement(case, "error", message=o.message).text = f"{o.message}\n{v.why}" + (f"\n{o.detail}" if o.detail else "")
        elif v.kind == UNEXPECTED:
            failures += 1
            ET.SubElement(case, "failure", message=f"{len(o.differences)} difference(s)").text = (
                "\n".join(o.differences) + f"\n({v.why})")
    suite.set("tests", str(len(verdicts)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    suite.set("time", f"{sum(v.outcome.seconds for v in verdicts):.3f}")
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def summary_table(verdicts: list[Verdict], key, title: str) -> list[str]:
    groups: dict[str, list[Verdict]] = {}
    for v in verdicts:
        groups.setdefault(key(v.outcome.case_id), []).append(v)
    lines = [f"| {title} | cases | " + " | ".join(COLUMNS) + " |", "| --- " * (len(COLUMNS) + 2) + "|"]
    for name in sorted(groups):
        c = counts(groups[name])
        lines.append(f"| {name} | {len(groups[name])} | " + " | ".join(str(c[k]) for k in COLUMNS) + " |")
    return lines


def to_markdown(verdicts: list[Verdict], impl: str, strict: bool, not_run: list[str], shard: str | None = None) -> str:
    total = counts(verdicts)
    lines = [f"# obsconf: {impl} against the goldens (torch {_torch_version()})", "",
             f"{len(verdicts)} cases: " + ", ".join(f"{total[k]} {k}" for k in COLUMNS), ""]
    if not_run:
        lines += [f"**Interrupted**: {len(not_run)} selected case(s) not run, from `{not_run[0]}`.", ""]
    lines += ["## Per family", ""] + summary_table(verdicts, family_of, "family") + [""]
    lines += ["## Per backend", ""] + summary_table(verdicts, backend_of, "backend") + [""]
    bad = [v for v in verdicts if not v.ok and not (v.kind == XPASS and not strict)]
    if bad:
        lines += ["## Unexpected", ""]
        for v in bad:
            lines.append(f"- `{v.outcome.case_id}`: {v.outcome.status}" + (f" ({v.why})" if v.why else ""))
            if v.outcome.message:
                lines.append(f"  - {v.outcome.message}")
            lines += [f"  - {d}" for d in v.outcome.differences[:10]]
            if len(v.outcome.differences) > 10:
                lines.append(f"  - ... {len(v.outcome.differences) - 10} more")
        lines.append("")
    return "\n".join(lines)


WRITERS = {"json": to_json, "junit": to_junit, "markdown": to_markdown}


def write(kind: str, path: str | Path, verdicts: list[Verdict], impl: str, strict: bool,
          not_run: list[str] = (), shard: str | None = None) -> None:
    """`not_run`: the cases an interrupted run did not finish; `shard`: K/N of a sharded run
    (JSON records it)."""
    write_atomic(path, WRITERS[kind](verdicts, impl, strict, list(not_run), shard))


def _pt2e_version(verdicts: list[Verdict]) -> str | None:
    """`torchao 0.18.0`, `torch.ao (torch 2.10.0)`, `none` (no PT2E implementation here), or
    None when the run had no pt2e case."""
    if not any(v.outcome.case_id.startswith("pt2e/") for v in verdicts):
        return None
    from models import pt2e_source

    return pt2e_source.here() or "none"


def _torch_version() -> str:
    import torch  # loaded by the run that made the report anyway

    return torch.__version__
