"""The behaviour table across torch releases: each tox environment runs its release's
oracle against the goldens and the divergence ledger (`obsconf run --impl torch --ledger
--json .obsconf-cache/matrix/<env>.json`); `obsconf matrix` keeps one compact record per
release in docs/matrix/ and writes the case x release table from them (docs/matrix.md,
and every case's row in docs/matrix/cases.md). A torch release paired with a torchao
release (`tox -e torch2.10-torchao0.16`: the pt2e family on that torchao's prepare_pt2e)
has a record of its own, `torch-2.10.0+torchao-0.16.0.json`, and a column of its own.

A cell says what that release's prepare did with the case: `=` same plan as the golden,
the ids of the ledger entries that account for its differences or its error, `skip` (the
release cannot build the case: a missing model, dtype or backend pattern), or `FAIL`
(a difference or error the ledger does not list, or a listed one that changed).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from .golden import bundled_goldens_torch, write_atomic
from .ledger import Ledger, facts, pt2e_release, release
from .reports import family_of
from .runner import SKIPPED, Outcome, made_the_goldens, without_paths

RESULTS = Path(".obsconf-cache") / "matrix"
ROOT = Path(__file__).resolve().parent.parent
RECORDS = ROOT / "docs" / "matrix"
TABLE = ROOT / "docs" / "matrix.md"
RECORD_SCHEMA = 1

SAME, SKIP, FAIL = "=", "skip", "FAIL"


class MatrixError(ValueError):
    """A results or record file that cannot be read; the message names it."""


def absent_reason(case_id: str) -> str:
    """Why this environment builds no case of that id although a golden has it."""
    import torch

    family, rest = case_id.split("/", 1)
    if family == "torchvision":
        try:
            import torchvision
        except Exception as exc:  # absent, or built for another torch
            return f"torchvision cannot be imported beside torch {torch.__version__} ({type(exc).__name__})"
        return f"torchvision {torchvision.__version__} has no model {rest.split('/')[0]}"
    if family == "zoo":
        backend, pattern = rest.split("/")[:2]
        return f"torch {torch.__version__}'s {backend} backend config has no pattern {pattern}"
    return f"torch {torch.__version__}'s corpus has no recipe for it"


def absent_cases(store, known: set[str], wanted=lambda case_id: True) -> list[tuple[str, str]]:
    """(case id, reason) for the goldens `wanted` selects that no recipe here builds."""
    return [(i, absent_reason(i)) for i in store.stored_ids() if i not in known and wanted(i)]


def paired_torchao(record: dict) -> str | None:
    """The torchao release whose prepare_pt2e a record's pt2e cases ran on ('0.16.0'), or
    None (torch's own torch.ao, or no pt2e case)."""
    on = pt2e_release(record.get("pt2e"))
    return str(on[1]) if on and on[0] == "torchao" else None


def label(record: dict) -> str:
    """A record's column heading: `2.10.0`, or `2.10.0 + torchao 0.16.0` for a pairing."""
    torchao = paired_torchao(record)
    return f"{release(record['torch'])}" + (f" + torchao {torchao}" if torchao else "")


def record_path(record: dict, records: Path = RECORDS) -> Path:
    torchao = paired_torchao(record)
    return records / (f"torch-{release(record['torch'])}" + (f"+torchao-{torchao}" if torchao else "") + ".json")


def _ledger_for(ledger_path, record: dict) -> Ledger:
    return Ledger.load(ledger_path, record["torch"], record.get("pt2e"))


def cell(entry: dict) -> str:
    """A JSON report's case entry (or its re-judged form) as a table cell."""
    if entry["verdict"] in ("unexpected", "xpass"):  # xpass: a listed divergence is gone
        return FAIL
    if entry["status"] == "skipped":
        return SKIP
    if entry.get("ledger"):
        return " ".join(entry["ledger"])
    return SAME


def record_from_report(report: dict, source: str, ledger_path) -> dict:
    """The compact per-release record kept in docs/matrix/ from a JSON run report, every
    case judged again by the ledger as it is now (the report keeps the raw differences,
    so the ledger can be corrected without running that release again)."""
    if report.get("schema") != 1 or report.get("impl") != "torch" or "cases" not in report:
        raise MatrixError(f"{source}: not a JSON report of `obsconf run --impl torch` (schema 1)")
    ledger = _ledger_for(ledger_path, report)
    order = [e.id for e in ledger.everything]
    cases = {}
    for entry in report["cases"]:
        outcome = _outcome(entry, report["torch"])
        if entry.get("verdict") == "expected" and entry["status"] == SKIPPED:
            verdict = None  # a skip the ledger declared: not run at all
            judged = {"status": entry["status"], "verdict": "expected", "ledger": entry.get("ledger", [])}
        else:
            verdict = ledger.judge(outcome)
            judged = {"status": outcome.status, "verdict": verdict.kind,
                      "ledger": sorted(verdict.entries, key=order.index)}  # in ledger order: one cell, one spelling
        row = {"cell": cell(judged)}
        why = outcome.message if outcome.status == SKIPPED else (verdict.why if verdict else "")
        if why:
            row["why"] = why
        cases[entry["id"]] = row
    return {"schema": RECORD_SCHEMA, "torch": report["torch"], "torchvision": report.get("torchvision"),
            **({"pt2e": report["pt2e"]} if report.get("pt2e") else {}),
            "summary": dict(Counter(_kind(r["cell"]) for r in cases.values())), "cases": cases,
            "unused": [e.id for e in ledger.unused(cases)]}


def _outcome(entry: dict, version: str) -> Outcome:
    """A report entry as an outcome. A case that could not be built for want of an import
    or attribute is a skip under a release other than the goldens' (as the runner now
    reports it; older reports call it an error). Messages lose the file paths of the machine
    that ran them (older reports kept them), so records are the same wherever they are made."""
    message = without_paths(entry.get("message", ""))
    if entry["status"] == "error" and message.startswith(("cannot build case: ImportError",
                                                          "cannot build case: AttributeError")):
        if not made_the_goldens(version):
            reason = message.removeprefix("cannot build case: ")
            return Outcome(entry["id"], SKIPPED, message=f"torch {version} lacks what the case needs: {reason}")
    return Outcome(entry["id"], entry["status"], list(entry.get("differences", [])), message)


def _kind(text: str) -> str:
    if text in (SAME, SKIP, FAIL):
        return {"=": "same", "skip": "skipped", "FAIL": "unexpected"}[text]
    return "ledgered"


def read_json(path: Path) -> dict:
    """A report or record file, or MatrixError naming it."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise MatrixError(f"{path}: cannot read: {exc}") from None


def load_records(directory: Path = RECORDS) -> list[dict]:
    records = []
    for path in sorted(directory.glob("torch-*.json")):
        data = read_json(path)
        if data.get("schema") != RECORD_SCHEMA:
            raise MatrixError(f"{path}: not a behaviour record of schema {RECORD_SCHEMA}")
        records.append(data)
    return sorted(records, key=lambda r: (release(r["torch"]), release(paired_torchao(r) or "0")))


def update(ledger_path, results: Path = RESULTS, records: Path = RECORDS) -> list[str]:
    """Turn every JSON report under `results` (any depth: one folder per machine will do)
    into its release's record (a torchao pairing's: its own), the parts of a sharded run
    merged; the record files written."""
    written = []
    by_release: dict[tuple[str, str], list[tuple[Path, dict]]] = {}
    for path in sorted(results.rglob("*.json")):
        report = read_json(path)
        by_release.setdefault((str(report.get("torch")), paired_torchao(report) or ""), []).append((path, report))
    for _, reports in sorted(by_release.items()):
        report, source = merge_shards(reports)
        record = record_from_report(report, source, ledger_path)
        out = record_path(record, records)
        if out.exists():
            record = keep_other_families(record, read_json(out), ledger_path)
        write_atomic(out, json.dumps(record, indent=0, sort_keys=True) + "\n")
        written.append(str(out))
    return written


def keep_other_families(record: dict, old: dict, ledger_path) -> dict:
    """A run of some families only (`tox -e torch2.10 -- --family pt2e`) replaces those
    families' rows of the release's record and keeps the others as they were recorded: a
    whole run has every family, so it keeps nothing. The summary and the unused ledger
    entries are counted again over the rows the record ends with."""
    ran = {family_of(case_id) for case_id in record["cases"]}
    kept = {case_id: row for case_id, row in old.get("cases", {}).items() if family_of(case_id) not in ran}
    if not kept:
        return record
    cases = {**kept, **record["cases"]}
    merged = {**old, **{k: v for k, v in record.items() if v is not None}, "cases": dict(sorted(cases.items()))}
    merged["summary"] = dict(Counter(_kind(r["cell"]) for r in cases.values()))
    used = {ident for r in cases.values() for ident in r["cell"].split() if ident not in (SAME, SKIP, FAIL)}
    merged["unused"] = [e.id for e in _ledger_for(ledger_path, merged).concerning(cases) if e.id not in used]
    return merged


def merge_shards(reports: list[tuple[Path, dict]]) -> tuple[dict, str]:
    """One release's reports as one (the report and where it came from): a lone report as
    it is, or the parts of a sharded run (`--shard K/N`), every part there once and no
    case in two. MatrixError otherwise: two whole runs of one release, a part missing."""
    if len(reports) == 1 and "shard" not in reports[0][1]:
        return reports[0][1], str(reports[0][0])
    names = ", ".join(str(p) for p, _ in reports)
    version = reports[0][1].get("torch")
    parts = {}
    for path, report in reports:
        if "shard" not in report:
            raise MatrixError(f"torch {version}: {path} is a whole run, beside other reports of that release ({names})")
        k, n = (int(x) for x in report["shard"].split("/"))
        if k in parts:
            raise MatrixError(f"torch {version}: shard {report['shard']} reported twice ({parts[k][0]} and {path})")
        parts[k] = (path, report, n)
    counts = {n for _, _, n in parts.values()}
    missing = sorted(set(range(1, max(counts) + 1)) - set(parts))
    if len(counts) > 1 or missing:
        raise MatrixError(f"torch {version}: shards {', '.join(r['shard'] for _, r, _ in parts.values())} reported; "
                          f"{'they split the run differently' if len(counts) > 1 else f'missing {missing}'} ({names})")
    merged = dict(parts[1][1])
    merged.pop("shard")
    merged["cases"], seen = [], {}
    for k in sorted(parts):
        path, report, _ = parts[k]
        for key in ("torch", "torchvision", "impl", "schema"):
            if report.get(key) != merged.get(key):
                raise MatrixError(f"torch {version}: {path} differs from shard 1 in {key}")
        for entry in report["cases"]:
            if entry["id"] in seen:
                raise MatrixError(f"torch {version}: case {entry['id']} in {seen[entry['id']]} and {path}")
            seen[entry["id"]] = path
            merged["cases"].append(entry)
    merged["cases"].sort(key=lambda e: e["id"])
    total = sum((Counter(r["summary"]) for _, r, _ in parts.values()), Counter())
    merged["summary"] = {k: total[k] for k in parts[1][1]["summary"]}
    return merged, f"{len(parts)} shards ({names})"


def check(records: list[dict], ledger_path) -> list[str]:
    """Where the records and the ledger disagree: a cell naming an entry the ledger lacks or
    whose range excludes that release, an unexpected cell, or an entry admitting a recorded
    release that no case of that release shows."""
    problems = []
    for record in records:
        ledger = _ledger_for(ledger_path, record)
        admitted = {e.id for e in ledger.entries}
        concerned = {e.id for e in ledger.concerning(record["cases"])}
        name = f"torch {label(record)}"
        everything = {e.id for e in ledger.everything}
        seen = set()
        for case_id, row in record["cases"].items():
            text = row["cell"]
            if text == FAIL:
                problems.append(f"{name}: {case_id} fails: {row.get('why', '')}")
                continue
            if text in (SAME, SKIP):
                continue
            for ident in text.split():
                seen.add(ident)
                if ident not in everything:
                    problems.append(f"{name}: {case_id} names {ident!r}, which the ledger lacks")
                elif ident not in admitted:
                    problems.append(f"{name}: {case_id} names {ident!r}, whose range excludes it")
        for ident in sorted(concerned - seen):
            problems.append(f"{name}: ledger entry {ident!r} admits it but no case shows it")
    return problems


def markdown(records: list[dict], ledger_path) -> tuple[str, str]:
    """(docs/matrix.md, docs/matrix/cases.md) from the records."""
    releases = [label(r) for r in records]
    header = "| " + " | ".join(["case"] + releases) + " |"
    rule = "| --- " * (len(releases) + 1) + "|"
    every = sorted({c for r in records for c in r["cases"]})
    rows = {c: tuple(r["cases"].get(c, {}).get("cell", "") for r in records) for c in every}

    lines = ["# Observer placement across torch releases", "",
             "Each release's own `prepare_fx` / `prepare_qat_fx`, and for the pt2e family the `prepare_pt2e` / "
             "`prepare_qat_pt2e` it runs (torch's own `torch.ao.quantization.quantize_pt2e` in torch 2.1 ... 2.10, "
             "torchao's where torchao is installed: the `pt2e` column, and a column of its own for each torch "
             "release paired with the torchao release built against it), run against the goldens (made by torch "
             f"{bundled_goldens_torch() or 'unknown'}) and judged by the divergence ledger `golden/ledger.toml`, one tox environment a "
             "release (`tox -e torch2.0` ...; then `obsconf matrix`). `=`: the same plan; an entry id: differs "
             "(or errs) exactly as that ledger entry says; `skip`: the release cannot build the case; `FAIL`: "
             "a difference the ledger does not list. Every case's row: [matrix/cases.md](matrix/cases.md).", "",
             "## Releases", "",
             "| torch | torchvision | pt2e | cases | same | ledgered | skipped | unexpected |", "| --- " * 8 + "|"]
    for r in records:
        s = r["summary"]
        lines.append(f"| {r['torch']} | {r.get('torchvision') or 'none'} | {r.get('pt2e') or 'not run'} | "
                     f"{len(r['cases'])} | {s.get('same', 0)} | "
                     f"{s.get('ledgered', 0)} | {s.get('skipped', 0)} | {s.get('unexpected', 0)} |")
    ledger = Ledger.load(ledger_path, "0")
    lines += ["", "## Ledger entries: cases each accounts for, per release", "",
              "| entry | upstream change | " + " | ".join(releases) + " |", "| --- " * (len(releases) + 2) + "|"]
    concerned = [{e.id for e in _ledger_for(ledger_path, r).concerning(r["cases"])} for r in records]
    for entry in ledger.everything:
        counts = []
        for r, ids in zip(records, concerned):
            if entry.id not in ids:
                counts.append("")
                continue
            counts.append(str(sum(1 for row in r["cases"].values() if entry.id in row["cell"].split())))
        lines.append(f"| `{entry.id}` | {_md(_brief(entry.change))} | " + " | ".join(counts) + " |")
    lines += ["", "## Cases grouped by behaviour", "",
              "Cases whose row is the same across all releases form one group (a few example ids shown).", "",
              "| cases | examples | " + " | ".join(releases) + " |", "| --- " * (len(releases) + 2) + "|"]
    groups: dict[tuple, list[str]] = {}
    for case_id, row in rows.items():
        groups.setdefault(row, []).append(case_id)
    for row, members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        examples = ", ".join(f"`{m}`" for m in members[:3]) + (", ..." if len(members) > 3 else "")
        lines.append(f"| {len(members)} | {examples} | " + " | ".join(_md(c) for c in row) + " |")
    cases = ["# Every case across torch releases", "", "See [../matrix.md](../matrix.md) for what a cell means.", "",
             header, rule] + [f"| `{c}` | " + " | ".join(_md(x) for x in rows[c]) + " |" for c in every]
    return "\n".join(lines) + "\n", "\n".join(cases) + "\n"


def _brief(text: str, limit: int = 160) -> str:
    """The change as the table shows it: at most `limit` characters (the ledger has it all)."""
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _md(text: str) -> str:
    return text.replace("|", "\\|") if text else " "


def write(records: list[dict], ledger_path, table: Path = TABLE, cases: Path | None = None) -> None:
    main, every = markdown(records, ledger_path)
    write_atomic(table, main)
    write_atomic(cases or table.parent / "matrix" / "cases.md", every)


# -- drafting ledger entries ----------------------------------------------------------------

_GENERALISE = [  # (pattern, replacement): the parts of a difference line that name nodes
    (re.compile(r"^(observer(?: \d+ of \d+)?) on .+?: "), r"\1 on *: "),
    (re.compile(r"^(missing|extra)( unused)? observer on .+? \["), r"\1\2 observer on * ["),
    (re.compile(r"^unused observer on \S+: "), "unused observer on *: "),
    (re.compile(r"^observer inside module \S+: "), "observer inside module *: "),
    (re.compile(r"^(missing|extra) observer inside module: \S+ \["), r"\1 observer inside module: * ["),
    (re.compile(r"^(missing|extra) module \S+: "), r"\1 module *: "),
    (re.compile(r"^module swap differs at \S+: "), "module swap differs at *: "),
    (re.compile(r"^(.+?) of \{.*?\} differs: "), r"\1 of {*} differs: "),
    (re.compile(r"^(sharing differs|observer nodes differ at|graph rewired|convert state observed_node_names)\b.*"),
     r"\1*"),
]


def generalise(line: str) -> str:
    """A difference line with the node and module names made wildcards (`*`)."""
    inner = _STANDALONE.match(line)
    if inner:  # a standalone module's own difference: any standalone module
        return "*" + generalise(line[inner.end():])
    for pattern, replacement in _GENERALISE:
        line = pattern.sub(replacement, line)
    return line


_STANDALONE = re.compile(r"in standalone module \S+: ")


def suggest(report: dict, ledger_path) -> list[tuple[str, list[str]]]:
    """(generalised fact, case ids) for every difference or error of a JSON report that the
    ledger as it is now does not account for, most cases first: the raw material of new
    ledger entries (their `change` is for a person to find)."""
    ledger = _ledger_for(ledger_path, report)
    listing = [e for e in ledger.entries if e.outcome == "differs"]
    groups: dict[str, set[str]] = {}
    for entry in report["cases"]:
        outcome = _outcome(entry, report["torch"])
        if ledger.judge(outcome).ok:
            continue
        if not outcome.differences:
            groups.setdefault(f"error: {outcome.message}", set()).add(outcome.case_id)
        for line in outcome.differences:
            for part in facts(line):
                if not any(e.covers(part) and e.matches(outcome.case_id) for e in listing):
                    groups.setdefault(generalise(part), set()).add(outcome.case_id)
    return sorted(((k, sorted(v)) for k, v in groups.items()), key=lambda kv: (-len(kv[1]), kv[0]))
