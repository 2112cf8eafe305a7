"""Sharding a selection of cases across machines: `obsconf run --shard K/N` and `obsconf
list --shard K/N` take the K-th of N parts of what the other options select.

The parts are balanced by each case's measured cost (conformance/case_costs.json:
seconds the oracle took on it, written by `obsconf costs REPORT.json ...` from run
reports; a case it does not list costs the median). The partition is the longest
processing time first rule: cases in order of falling cost (then id) each go to the part
with the least cost so far (then the lowest K). It depends only on the selection and the
costs file, so every machine computes the same parts: together they are exactly the
selection, each case in one part. `obsconf matrix` merges the JSON reports of the parts.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

COSTS = Path(__file__).with_name("case_costs.json")


class ShardError(ValueError):
    """A --shard that cannot be used, or a costs file that does not read; one line."""


def parse(text: str) -> tuple[int, int]:
    """`K/N` -> (K, N) with 1 <= K <= N."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise ShardError(f"--shard {text!r}: expected K/N with 1 <= K <= N, e.g. 1/4")
    return int(match.group(1)), int(match.group(2))


def load_costs(path: Path = COSTS) -> dict[str, float]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        return {str(k): float(v) for k, v in data["seconds"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ShardError(f"costs file {path}: cannot read: {exc}") from None


def partition(case_ids: list[str], parts: int, costs: dict[str, float]) -> list[list[str]]:
    """The `parts` parts of `case_ids` (see the module docstring), each in id order."""
    known = [costs[i] for i in case_ids if i in costs]
    default = statistics.median(known) if known else 1.0
    cost = {i: costs.get(i, default) for i in case_ids}
    loads = [0.0] * parts
    chosen: list[list[str]] = [[] for _ in range(parts)]
    for case_id in sorted(case_ids, key=lambda i: (-cost[i], i)):
        k = min(range(parts), key=lambda p: (loads[p], p))
        chosen[k].append(case_id)
        loads[k] += cost[case_id]
    return [sorted(part) for part in chosen]


def select(cases: list, shard: str, key=lambda case: case.id):
    """The items of part K of N of `cases` (cases, or ids with `key=str`), in their order."""
    k, n = parse(shard)
    wanted = set(partition([key(c) for c in cases], n, load_costs())[k - 1])
    return [c for c in cases if key(c) in wanted]


def write_costs(reports: list[Path], path: Path = COSTS, merge: bool = False) -> tuple[Path, int]:
    """The costs file from the per-case seconds of JSON run reports (the latest report
    listing a case wins); with `merge`, the cases they do not list keep the cost the file
    has (a run of the cases a corpus gained); the path and how many cases it lists."""
    from .golden import write_atomic

    seconds: dict[str, float] = dict(load_costs(path)) if merge and path.exists() else {}
    for report in reports:
        try:
            data = json.loads(Path(report).read_text())
            entries = data["cases"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ShardError(f"report {report}: cannot read: {exc}") from None
        for entry in entries:
            if isinstance(entry, dict) and "seconds" in entry and entry.get("status") != "skipped":
                seconds[entry["id"]] = max(0.01, round(float(entry["seconds"]), 2))
    if not seconds:
        raise ShardError("no case in those reports records its seconds (reports of `obsconf run --json`)")
    text = json.dumps({"about": "seconds the oracle took per case; written by `obsconf costs`",
                       "seconds": dict(sorted(seconds.items()))}, indent=0, sort_keys=True) + "\n"
    write_atomic(path, text)
    return path, len(seconds)
