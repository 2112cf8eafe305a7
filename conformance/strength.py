"""`obsconf strength`: how many mutants of the oracle's prepare.py the corpus kills.

1. A line map: which lines of prepare.py each case executes (coverage.py, one dynamic
   context per case) and how long the case takes; computed once per torch build, cached,
   and filled in for new cases only.
2. Every mutant (conformance/mutants.py) runs, in its own forked worker, against the cases
   that execute its statement, cheapest first and depth by depth (Schedule): the cases that
   differ within its function, then those that differ anywhere in prepare.py, then (with
   --depth all) every case. The first case whose plan differs from its golden (or on
   which the mutant raises, or hangs) kills it. A mutant on a line no case executes is
   equivalent when that line cannot be reached through prepare_fx at all (the reasons of
   `obsconf coverage`), else it survives.
3. Results go to a cache, one JSON line per mutant, as they come: a stopped run goes on
   where it was; a survivor is run again only on cases added since.
4. Mutants argued equivalent by hand (conformance/equivalent_mutants.toml) are
   reported with their argument; the report (docs/strength.md) lists every survivor with
   its mutation and source line.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from models import SkipCase

from . import cache, diff, mutants
from .contract import ORACLE, Implementation, oracle_prepare, oracle_prepare_pt2e
from .golden import GoldenStore, write_atomic
from .isolation import death_message, kill_overdue
from .runner import CaseError, produce_plan, release_torch_caches

CACHE_ROOT: Path | None = None  # None: strength/ in the cache folder (conformance/cache.py)
EQUIVALENTS = Path(__file__).with_name("equivalent_mutants.toml")  # of torch's fx/prepare.py
EQUIVALENTS_PT2E = Path(__file__).with_name("equivalent_mutants_pt2e.toml")  # of torchao's pt2e/prepare.py
KILLED, SURVIVED, ERRORED, EQUIVALENT = "killed", "survived", "errored", "equivalent"


class StrengthError(Exception):
    """A setup problem (unreadable equivalents file, no case): one line, exit 2."""


# -- the mutant as an implementation ------------------------------------------------------

def mutant_implementation(module, name: str, target: mutants.Target = mutants.FX) -> Implementation:
    """The oracle with the `prepare` its library calls (quantize_fx's for prepare_fx /
    prepare_qat_fx, standalone modules included; quantize_pt2e's for prepare_pt2e /
    prepare_qat_pt2e) taken from `module`. Only ever called in a worker that exits after
    the mutant, so nothing leaks."""
    import importlib

    caller = importlib.import_module(target.entry[0])

    def with_mutant(call):
        def prepare(*args, **kwargs):
            saved = getattr(caller, target.entry[1])
            setattr(caller, target.entry[1], module.prepare)
            try:
                return call(*args, **kwargs)
            finally:
                setattr(caller, target.entry[1], saved)
        return prepare

    if target is mutants.PT2E:
        return Implementation(name, None, prepare_pt2e=with_mutant(oracle_prepare_pt2e))
    return Implementation(name, with_mutant(oracle_prepare))


# -- the line map -------------------------------------------------------------------------

def cache_dir(source: str) -> Path:
    import torch

    root = CACHE_ROOT if CACHE_ROOT is not None else cache.root() / "strength"
    return root / f"torch-{torch.__version__}-{mutants.source_digest(source)}"


def _map_share(cases, path: Path, out: Path) -> None:
    """In a worker: run `cases` through the oracle under coverage, one context per case."""
    import coverage

    cov = coverage.Coverage(data_file=None, include=[str(path)], config_file=False)
    seconds, usable = {}, set()
    cov.start()
    for index, case in enumerate(cases):
        cov.switch_context(case.id)
        start = time.perf_counter()
        try:
            produce_plan(case, ORACLE, collect=False)
            usable.add(case.id)
        except (SkipCase, CaseError):
            pass
        seconds[case.id] = round(time.perf_counter() - start, 4)
        if index % 50 == 49:
            gc.collect()
    cov.stop()
    by_line = cov.get_data().contexts_by_lineno(str(path))
    lines: dict[str, list[int]] = {case.id: [] for case in cases}
    for line, contexts in by_line.items():
        for context in contexts:
            if context in lines:
                lines[context].append(line)
    entries = {case.id: {"lines": sorted(lines[case.id]), "seconds": seconds[case.id], "usable": case.id in usable}
               for case in cases}
    write_atomic(out, json.dumps(entries))


def line_map(cases, source: str, path: Path, jobs: int = 2, say=print) -> dict[str, dict]:
    """case id -> {lines, seconds, usable} for every case, from the cache where it has them."""
    file = cache_dir(source) / "lines.json"
    known = json.loads(file.read_text()) if file.exists() else {}
    missing = [c for c in cases if c.id not in known]
    if missing:
        say(f"line map: running {len(missing)} case(s) through the oracle under coverage on {jobs} core(s)")
        start = time.monotonic()
        shares = [missing[i::jobs] for i in range(max(1, jobs))]
        outs, pids = [], []
        for index, share in enumerate(shares):
            out = file.with_name(f"lines.part{index}.json")
            outs.append(out)
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    _map_share(share, path, out)
                except BaseException as exc:  # noqa: BLE001 (reported by the parent)
                    print(f"line map worker failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                    code = 1
                os._exit(code)
            pids.append(pid)
        for pid in pids:
            os.waitpid(pid, 0)
        for out in outs:
            if not out.exists():
                raise StrengthError(f"line map: a worker left no {out.name}")
            known.update(json.loads(out.read_text()))
            out.unlink()
        write_atomic(file, json.dumps(known, sort_keys=True))
        say(f"line map: {len(missing)} case(s) in {time.monotonic() - start:.0f} s")
    return {c.id: known[c.id] for c in cases}


DEPTHS = ("local", "fast", "all")
STRENGTH_TAG = "strength"  # a recipe tag: the case was written to kill mutants only it reaches
FAST_CASE_SECONDS = 0.5  # the oracle's time for a case, under coverage, when the line map was made


@dataclass
class Schedule:
    """For every mutant, the cases to run it on, in order, at three depths:
    local - the cheapest case of each distinct set of lines executed in the mutant's function;
    fast  - the cheapest case of each distinct pair of a configuration preset and a set of
            lines executed in all of prepare.py (a case it leaves out runs the same preset
            through exactly the lines of one it keeps: the preset matters where lines do
            not, e.g. the dtype a list lookup finds), leaving the pairs only slow cases have
            (over FAST_CASE_SECONDS: big torchvision graphs) to the next depth; cases tagged
            STRENGTH_TAG (written to kill a mutant only they reach, however slow) always run here;
    all   - every case that executes the mutant's statement.
    Each depth's cases come cheapest first."""

    fast: list[str]
    rest: list[str]  # every other usable case, cheapest first
    lines: dict[str, list[int]]
    by_line: dict[int, set[str]]  # line -> ids of the cases that execute it
    _local: dict[tuple[int, int], list[str]] = field(default_factory=dict)

    def covering(self, mutant: mutants.Mutant) -> set[str]:
        if mutant.function == "<module>":  # module-level code runs on import: every case sees it
            return set(self.lines)
        hit: set[str] = set()
        for line in range(mutant.statement, mutant.span[2] + 1):
            hit |= self.by_line.get(line, set())
        return hit

    def cases_for(self, mutant: mutants.Mutant, depth: str = "fast") -> list[str]:
        hit = self.covering(mutant)
        if depth == "all":
            return [c for c in self.fast + self.rest if c in hit]
        if depth == "local" and mutant.function != "<module>":
            return [c for c in self._local_representatives(mutant.scope) if c in hit]
        return [c for c in self.fast if c in hit]

    def _local_representatives(self, scope: tuple[int, int]) -> list[str]:
        if scope not in self._local:
            low, high = scope
            seen, chosen = set(), []
            for cid in self.fast + self.rest:
                signature = tuple(n for n in self.lines[cid] if low <= n <= high)
                if signature and signature not in seen:
                    seen.add(signature)
                    chosen.append(cid)
            self._local[scope] = chosen
        return self._local[scope]


def make_schedule(entries: dict[str, dict], always: set[str] = frozenset()) -> Schedule:
    """`always`: ids of cases the fast depth runs whatever their cost and lines."""
    usable = {cid: e for cid, e in entries.items() if e["usable"]}
    by_cost = sorted(usable, key=lambda cid: (usable[cid]["seconds"], cid))
    seen, fast, slow, rest = set(), [], [], []
    for cid in by_cost:
        signature = (tuple(usable[cid]["lines"]), cid.rsplit("/", 1)[-1])
        if cid in always:
            fast.append(cid)
        elif signature in seen:
            rest.append(cid)
        else:
            (fast if usable[cid]["seconds"] <= FAST_CASE_SECONDS else slow).append(cid)
        seen.add(signature)
    rest = slow + rest
    by_line: dict[int, set[str]] = {}
    for cid, entry in usable.items():
        for line in entry["lines"]:
            by_line.setdefault(line, set()).add(cid)
    return Schedule(fast, rest, {cid: e["lines"] for cid, e in usable.items()}, by_line)


# -- running one mutant -------------------------------------------------------------------

def _evaluate(source: str, path: Path, mutant: mutants.Mutant, cases, store: GoldenStore, write,
              target: mutants.Target = mutants.FX) -> dict:
    """In a worker: run the mutant on `cases` until one kills it. `write` sends a line to the
    parent: a heartbeat per case, then the result."""
    try:
        module = mutants.load(source, path, mutant, target)
    except Exception as exc:  # noqa: BLE001 (the mutant does not even import)
        return {"status": ERRORED, "how": "load", "detail": f"{type(exc).__name__}: {exc}"}
    impl = mutant_implementation(module, f"mutant {mutant.id}", target)
    for index, case in enumerate(cases):
        write({"case": case.id})
        header, expected, golden_error = store.load_or_error(case.id)
        try:
            actual = produce_plan(case, impl, collect=False, golden=expected, golden_torch=header.get("torch"))
        except SkipCase:
            continue
        except CaseError as exc:
            message = str(exc)
            if message.startswith(f"IUT {impl.name!r}") or message.startswith("cannot canonicalise"):
                return {"status": KILLED, "how": "raised", "case": case.id, "detail": message, "ran": index + 1}
            return {"status": ERRORED, "how": "harness", "case": case.id, "detail": message, "ran": index + 1}
        if golden_error is not None:
            return {"status": ERRORED, "how": "golden", "case": case.id, "detail": str(golden_error), "ran": index + 1}
        differences = diff.compare(expected, actual)
        if differences:
            return {"status": KILLED, "how": "differs", "case": case.id, "detail": differences[0],
                    "ran": index + 1, "golden": golden_digest(store, case.id)}
        if index % 25 == 24:
            release_torch_caches(collect=True)
    return {"status": SURVIVED, "ran_ids": [c.id for c in cases]}  # with those of earlier runs (settle)


def golden_digest(store: GoldenStore, case_id: str) -> str | None:
    """What a kill by difference was measured against: a kill whose golden has changed
    since (regenerated, or the case gone) no longer counts and the mutant runs again."""
    import hashlib

    path = store.path(case_id)
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.exists() else None


def _worker(source, path, mutant, cases, store, write_fd, target) -> None:
    pipe = os.fdopen(write_fd, "w", buffering=1)

    def write(message):
        pipe.write(json.dumps(message) + "\n")

    try:
        result = _evaluate(source, path, mutant, cases, store, write, target)
    except BaseException as exc:  # noqa: BLE001
        result = {"status": ERRORED, "how": "worker", "detail": f"{type(exc).__name__}: {exc}"}
    write({"result": result})
    pipe.close()
    os._exit(0)


class _Child:
    def __init__(self, mutant, cases, pid, fd, previous, covering):
        self.mutant, self.cases, self.pid, self.fd = mutant, cases, pid, fd
        self.previous = previous  # the cached survivor record this run extends, if any
        self.covering = covering  # how many cases execute the mutant, for the report
        self.buffer, self.current, self.ran, self.result = b"", None, 0, None
        self.started = self.beat = time.monotonic()


# -- the run ------------------------------------------------------------------------------

def load_results(directory: Path) -> dict[str, dict]:
    """mutant id -> its latest result line; a torn last line (a run killed mid-write) is ignored."""
    file = directory / "results.jsonl"
    results = {}
    if file.exists():
        for line in file.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            results[record["id"]] = record
    return results


def run(cases, jobs: int = 2, case_timeout: float = 120.0, only=None, fresh: bool = False,
        max_cases: int | None = None, depth: str = "fast", store: GoldenStore | None = None,
        say=print, target: mutants.Target = mutants.FX) -> tuple[list, dict, Schedule]:
    """Run every mutant of `target`'s prepare.py not yet settled in the cache, depth by depth
    up to `depth` (local, fast, all: see Schedule): a mutant that survives one depth goes on
    to the cases the next one adds. Returns (mutants, results by id, schedule)."""
    path = mutants.source_path(target)
    source = path.read_text()
    directory = cache_dir(source)
    directory.mkdir(parents=True, exist_ok=True)
    store = store or GoldenStore()
    cases = list(cases)
    if not cases:
        raise StrengthError("no case to run mutants on")
    by_id = {c.id: c for c in cases}
    chosen = [m for m in mutants.generate(source) if only is None or only(m)]
    if not chosen:
        return [], {}, None
    schedule = make_schedule(line_map(cases, source, path, jobs, say), {c.id for c in cases if STRENGTH_TAG in c.tags})
    results = {} if fresh else load_results(directory)
    for mutant_id, record in list(results.items()):
        if "golden" in record and golden_digest(store, record["case"]) != record["golden"]:
            del results[mutant_id]  # killed against a golden that has changed since: run it again
    reasons = unreachable_lines(source) if target is mutants.FX else {}  # obsconf coverage classifies torch's

    for mutant in chosen:
        if not schedule.covering(mutant):
            reason = next((reasons[n] for n in range(mutant.statement, mutant.span[2] + 1) if n in reasons), None)
            results[mutant.id] = _record(mutant, {"status": EQUIVALENT, "how": "unreachable", "detail": reason}
                                         if reason else {"status": SURVIVED, "how": "not covered", "ran_ids": [],
                                                         "covering": 0}, 0.0)
    for level in DEPTHS[: DEPTHS.index(depth) + 1]:
        todo = []
        for mutant in chosen:
            record = results.get(mutant.id)
            if record is not None and (record["status"] != SURVIVED or record.get("how") == "not covered"):
                continue
            ids = schedule.cases_for(mutant, level)[:max_cases]
            already = set(record.get("ran_ids", ())) if record else set()
            new = [by_id[i] for i in ids if i not in already]
            if record is not None and not new:
                continue
            todo.append((mutant, new, record, len(schedule.covering(mutant))))
        if todo:
            say(f"strength: {len(todo)} mutant(s) to run at depth {level} of {len(chosen)} (cache: {directory}), "
                f"{jobs} at a time")
        _run_mutants(todo, source, path, store, directory, results, jobs, case_timeout, say, target)
    return chosen, results, schedule


def _record(mutant: mutants.Mutant, result: dict, seconds: float) -> dict:
    return {"id": mutant.id, **{k: v for k, v in asdict(mutant).items() if k not in ("span",)},
            "line": mutant.line, "seconds": round(seconds, 2), **result}


def _run_mutants(todo, source, path, store, directory, results, jobs, case_timeout, say,
                 target: mutants.Target = mutants.FX) -> None:
    log = (directory / "results.jsonl").open("a")
    running: dict[int, _Child] = {}
    pending = list(todo)
    done, start, last_said = 0, time.monotonic(), time.monotonic()

    def settle(child: _Child, result: dict) -> None:
        nonlocal done
        if child.previous is not None and result["status"] == SURVIVED:
            result["ran_ids"] = sorted(set(child.previous.get("ran_ids", ())) | set(result.get("ran_ids", ())))
        record = _record(child.mutant, {**result, "covering": child.covering}, time.monotonic() - child.started)
        results[child.mutant.id] = record
        log.write(json.dumps(record) + "\n")
        log.flush()
        done += 1

    try:
        while pending or running:
            while pending and len(running) < max(1, jobs):
                mutant, cases, previous, covering = pending.pop(0)
                read_fd, write_fd = os.pipe()
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    os.close(read_fd)
                    _worker(source, path, mutant, cases, store, write_fd, target)
                os.close(write_fd)
                running[read_fd] = _Child(mutant, cases, pid, read_fd, previous, covering)
            ready, _, _ = select.select(list(running), [], [], 1.0)
            for fd in ready:
                child = running[fd]
                chunk = os.read(fd, 1 << 16)
                if chunk:
                    child.buffer += chunk
                    *lines, child.buffer = child.buffer.split(b"\n")
                    for line in lines:
                        message = json.loads(line)
                        if "case" in message:
                            child.current, child.ran, child.beat = message["case"], child.ran + 1, time.monotonic()
                        else:
                            child.result = message["result"]
                    continue
                os.close(fd)
                del running[fd]
                _, status = os.waitpid(child.pid, 0)
                result = child.result
                if result is None:  # died mid-case: the crash happened while the mutant ran
                    result = {"status": KILLED, "how": "crashed", "case": child.current, "ran": child.ran,
                              "detail": death_message(status)}
                settle(child, result)
            now = time.monotonic()
            for child in kill_overdue(running, lambda c: now - c.beat > case_timeout):
                settle(child, {"status": KILLED, "how": "timeout", "case": child.current, "ran": child.ran,
                               "detail": f"no case finished within {case_timeout:g} s: the worker was killed"})
            if now - last_said > 30 and todo:
                rate = done / (now - start) if now > start else 0
                say(f"strength: {done}/{len(todo)} mutants, {rate:.2f}/s, {int(now - start)} s elapsed")
                last_said = now
    finally:
        for child in running.values():
            os.kill(child.pid, signal.SIGKILL)
            os.waitpid(child.pid, 0)
        log.close()


# -- the quick tier -------------------------------------------------------------------------

def write_quick_tier(chosen, results: dict, cases, say=print) -> Path:
    """Choose the quick tier from a full run's results (conformance/quick.py) and write it."""
    killers = {m.id: results[m.id]["case"] for m in chosen if results.get(m.id, {}).get("status") == KILLED}
    return _write_tier(killers, cases, say)


def retier(cases, say=print) -> Path:
    """Choose the quick tier again from the kills it records, no mutant run: for a corpus
    that gained a family, backend or reference rule (`obsconf strength --retier`). The
    kills are those of the last full run, each by the case the tier names for it."""
    from . import quick

    header, reasons = quick.read()
    if header["digest"] != mutants.source_digest(mutants.source_path().read_text()):
        raise StrengthError("the quick tier was chosen for another prepare.py: a full `obsconf strength` chooses it")
    return _write_tier(quick.killed_by(reasons), cases, say)


def _write_tier(killers: dict[str, str], cases, say) -> Path:
    import functools

    import torch

    import reference
    import reference.pt2e

    from . import quick

    path = mutants.source_path()
    source = path.read_text()
    entries = line_map(cases, source, path, say=say)
    seconds = {cid: e["seconds"] for cid, e in entries.items() if e["usable"]}
    killers = {m: case_id for m, case_id in killers.items() if case_id in seconds}
    by_id = {c.id: c for c in cases}
    rules_of = functools.cache(lambda case_id: quick.reference_rules(by_id[case_id]))
    picked, unused = quick.choose(killers, seconds, rules_of, {**reference.RULES, **reference.pt2e.RULES})
    total = sum(seconds[c] for c, _ in picked)
    write_atomic(quick.FILE, quick.text(picked, unused, mutants.source_digest(source), torch.__version__,
                                        len(killers), total))
    return quick.FILE


# -- equivalence ----------------------------------------------------------------------------

def unreachable_lines(source: str) -> dict[int, str]:
    """line -> why prepare_fx cannot get there (coverage's reasons of kind unreachable or pt2e)."""
    from .coverage import REASONS, function_of

    lines = source.splitlines()
    found = {}
    for number, text in enumerate(lines, start=1):
        reason = REASONS.get((function_of(lines, number), text.strip()))
        if reason and reason[0] in ("unreachable", "pt2e"):
            found[number] = f"{reason[0]}: {reason[1]}"
    return found


@dataclass(frozen=True)
class Argument:
    mutant: str
    function: str
    original: str
    argument: str


def load_equivalents(file: Path = EQUIVALENTS) -> list[Argument]:
    """The mutants argued equivalent by hand; StrengthError (one line, naming the file) when unreadable."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    if not file.exists():
        return []
    try:
        data = tomllib.loads(file.read_text())
        return [Argument(e["mutant"], e["function"], e["original"], e["argument"]) for e in data.get("equivalent", [])]
    except (ValueError, KeyError, TypeError) as exc:
        raise StrengthError(f"{file}: unreadable equivalent-mutant list ({type(exc).__name__}: {exc})") from None


def settle_equivalents(chosen, results: dict, arguments: list[Argument], every=None) -> list[str]:
    """Turn argued survivors among `chosen` into equivalents; return the problems with the
    list (an argument for a mutant this prepare.py lacks (of `every`, default `chosen`) or
    whose text changed, or for one that was killed)."""
    by_id = {m.id: m for m in chosen}
    known = {m.id for m in (every if every is not None else chosen)}
    problems = []
    for arg in arguments:
        mutant = by_id.get(arg.mutant)
        record = results.get(arg.mutant)
        if arg.mutant not in known:
            problems.append(f"{arg.mutant}: no such mutant of this prepare.py (stale argument)")
        elif mutant is None or record is None:
            continue  # not run this time (--only)
        elif (mutant.function, mutant.original) != (arg.function, arg.original):
            problems.append(f"{arg.mutant}: the source there changed ({mutant.function}: {mutant.original}); "
                            "argue it again")
        elif record["status"] == KILLED:
            problems.append(f"{arg.mutant}: argued equivalent but killed by {record.get('case')}")
        elif record["status"] == SURVIVED:
            results[arg.mutant] = {**record, "status": EQUIVALENT, "how": "argued", "detail": arg.argument}
    return problems


# -- the report -----------------------------------------------------------------------------

def tally(chosen, results: dict) -> dict:
    statuses = Counter(results[m.id]["status"] for m in chosen if m.id in results)
    killed = statuses[KILLED]
    considered = len(chosen) - statuses[EQUIVALENT]
    return {"mutants": len(chosen), "killed": killed, "survived": statuses[SURVIVED], "errored": statuses[ERRORED],
            "equivalent": statuses[EQUIVALENT], "not run": len(chosen) - sum(statuses.values()),
            "score": 100.0 * killed / considered if considered else 100.0,
            "how": dict(Counter(results[m.id].get("how", "") for m in chosen
                                if m.id in results and results[m.id]["status"] == KILLED))}


def summary_line(figures: dict) -> str:
    return (f"{figures['mutants']} mutants: {figures['killed']} killed, {figures['survived']} survived, "
            f"{figures['errored']} errored, {figures['equivalent']} equivalent"
            + (f", {figures['not run']} not run" if figures["not run"] else "")
            + f"; score {figures['score']:.1f} % of the non-equivalent ones killed")


def markdown(chosen, results: dict, source: str, command: str, wall: str,
             target: mutants.Target = mutants.FX) -> str:
    import torch

    figures = tally(chosen, results)
    lines = source.splitlines()
    if target is mutants.PT2E:
        import torchao

        whose, calls = f"torchao {torchao.__version__}'s", "prepare_pt2e / prepare_qat_pt2e"
        title = "# Suite strength: mutants of the PT2E oracle's prepare.py"
    else:
        whose, calls = f"torch {torch.__version__}'s", "prepare_fx / prepare_qat_fx"
        title = "# Suite strength: mutants of the oracle's prepare.py"
    out = [title, "",
           f"Mutants of {whose} `{target.shown}` "
           f"({len(lines)} lines, sha256 {mutants.source_digest(source)}), each run against the corpus "
           f"by `{command}` ({wall}). A mutant is **killed** when a case's plan differs from its golden, the mutant "
           "raises (reported as the IUT's error) or hangs; **errored** when the harness failed around it; "
           f"**equivalent** when no call of {calls} can tell it from the original (the "
           "argument is given); else it **survived**.", "",
           f"**{summary_line(figures)}.**", "",
           "| how killed | mutants |", "| --- | --- |"]
    out += [f"| {how} | {count} |" for how, count in sorted(figures["how"].items())]
    out += ["", "| operator | mutants | killed | survived | equivalent | errored |", "| --- | --- | --- | --- | --- | --- |"]
    for operator in mutants.OPERATORS:
        of = [results.get(m.id, {}).get("status") for m in chosen if m.operator == operator]
        out.append(f"| {operator} | {len(of)} | {of.count(KILLED)} | {of.count(SURVIVED)} | {of.count(EQUIVALENT)} "
                   f"| {of.count(ERRORED)} |")
    out += ["", "Operators: " + " ".join(f"`{name}`: {' '.join(fn.__doc__.split())}"
                                          for name, fn in mutants.OPERATORS.items()), ""]
    for title, status in (("Survivors", SURVIVED), ("Errored", ERRORED), ("Equivalent mutants", EQUIVALENT)):
        of = [m for m in chosen if results.get(m.id, {}).get("status") == status]
        out += [f"## {title} ({len(of)})", ""]
        if not of:
            out += ["None.", ""]
            continue
        out += ["| mutant | function | line | mutation | why / cases run |", "| --- | --- | --- | --- | --- |"]
        for m in of:
            record = results[m.id]
            why = record.get("detail") or (
                f"conforms on the {len(record['ran_ids'])} of the {record.get('covering')} cases executing it that ran"
                if record.get("ran_ids") else "no case executes it")
            code = lines[m.line - 1].strip()
            out.append(f"| `{m.id}` | `{m.function}` | {m.line}: `{_cell(code)}` | `{_cell(m.original)}` -> "
                       f"`{_cell(m.mutated)}` | {_cell(why)} |")
        out.append("")
    return "\n".join(out)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")
