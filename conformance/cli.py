"""`obsconf`: list cases, run an implementation, show, diff and explain plans, regenerate
goldens, fuzz on generated graphs, check metamorphic invariants.

Exit codes: 0 all conform (or nothing changed), 1 some case differs or errs,
2 usage or setup error (unknown case, pattern matching nothing, unloadable IUT, a golden
or cases folder that is not there, a report that cannot be written), 130 interrupted
(Ctrl-C; 128 + the signal's number for another).
"""

from __future__ import annotations

import argparse
import difflib
import fnmatch
import sys
from collections.abc import Sequence

# Only what every command needs is imported here: torch (through models/, the runner and
# the differ) is imported by the commands that run something, so that --help, list, show
# and usage errors answer at once. `index` knows the case ids without torch.
from . import cases_folder, index
from .cases_folder import UserCasesError
from .contract import ImplementationError, load
from .golden import GoldenError, GoldenStore, write_atomic
from .ledger import DEFAULT_LEDGER, Ledger, LedgerError
from .outcome import CONFORM, DIFFER, ERROR, REJECTION_MATCHES, SKIPPED, CaseError, Outcome


class UsageError(Exception):
    """Exit 2 with this one-line message."""


def select_ids(patterns: Sequence[str] | None, tags: Sequence[str] | None = None,
               families: Sequence[str] | None = None) -> list[str]:
    """Ids of the cases whose id matches any pattern (a glob when it has *?[, else a
    substring), that bear one of `tags` if any are given (`--tag`, as `run --tag`) and
    belong to one of `families` if any are given, from the case index: no torch needed."""
    chosen = [case_id for case_id, have in index.entries()
              if _selected(case_id, patterns) and (not tags or set(tags) & set(have))
              and (not families or case_id.split("/", 1)[0] in families)]
    if not chosen:
        asked = ([f"-k {p!r}" for p in patterns or ()] + [f"--tag {t!r}" for t in tags or ()]
                 + [f"--family {f!r}" for f in families or ()])
        raise UsageError(f"no case matches {' '.join(asked)} (see `obsconf list --tags`)")
    return chosen


def select(patterns: Sequence[str] | None, tags: Sequence[str] | None = None):
    """The cases `select_ids` names."""
    from models import all_cases

    wanted = set(select_ids(patterns, tags))
    return [c for c in all_cases() if c.id in wanted]


def _selected(case_id: str, patterns: Sequence[str] | None) -> bool:
    """Whether -k `patterns` select this id: all ids when there are none."""
    return not patterns or any(_matches(case_id, p) for p in patterns)


def _absent_selected(case_id: str, args) -> bool:
    """Whether a run's selection takes a golden no recipe here builds (its id is all there
    is to go by): -k, --family, --backend and --preset as select_run applies them."""
    from .reports import backend_of, family_of

    return (_selected(case_id, args.k) and (not args.family or family_of(case_id) in args.family)
            and (not args.backend or backend_of(case_id) in args.backend)
            and (not args.preset or case_id.rsplit("/", 1)[-1] in args.preset))


def _matches(case_id: str, pattern: str) -> bool:
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(case_id, pattern)
    return pattern in case_id


def check_case_id(case_id: str) -> None:
    """UsageError, with the nearest id, when no case has this id (no torch needed)."""
    ids = [i for i, _ in index.entries()]
    if case_id not in ids:
        close = difflib.get_close_matches(case_id, ids, n=1)
        hint = f"; did you mean {close[0]}?" if close else "; see `obsconf list`"
        raise UsageError(f"unknown case id {case_id!r}{hint}")


def find_case(case_id: str):
    from models import all_cases

    check_case_id(case_id)
    return next(case for case in all_cases() if case.id == case_id)


def summary(counts: dict[str, int]) -> str:
    return f"{counts[CONFORM]} conform, {counts[DIFFER]} differ, {counts[ERROR]} error, {counts[SKIPPED]} skipped"


# -- commands ---------------------------------------------------------------------------------


def cmd_list(args) -> int:
    if args.excluded:
        from models import excluded

        entries = [(i, r) for i, r in excluded() if _selected(i, args.k)]
        if not entries and args.k:
            raise UsageError(f"nothing left out matches -k {' -k '.join(repr(p) for p in args.k)} "
                             f"(see `obsconf list --excluded`)")
        for item, reason in entries:
            print(f"{item}\t{reason}")
        print(f"{len(entries)} left out")
        return 0
    tags = dict(index.entries())
    if args.quick:
        why = quick_tier()
        for case_id in [i for i in select_ids(args.k, args.tag, args.family) if i in why]:
            print(f"{case_id}\t{why[case_id]}")
        return 0
    chosen = select_ids(args.k, args.tag, args.family)
    if args.shard:
        chosen = _shard(chosen, args.shard, key=str)
    for case_id in chosen:
        print(f"{case_id}\t{','.join(tags[case_id])}" if args.tags else case_id)
    return 0


def _last_failed_file():
    from . import cache

    return cache.root() / "lastfailed.json"


def _read_last_failed() -> dict:
    import json

    try:
        data = json.loads(_last_failed_file().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _last_failed(impl: str, data: dict | None = None) -> set[str]:
    failed = (_read_last_failed() if data is None else data).get(impl, [])
    return set(failed) if isinstance(failed, list) else set()


def _remember_failed(impl: str, ran: list[str], failed: list[str]) -> None:
    """This IUT's failures: those of this run, and those of earlier runs among the cases
    this run did not run (a -k run forgets nothing it did not select)."""
    import json

    from . import cache

    data = _read_last_failed()
    kept = _last_failed(impl, data) - set(ran)
    data[impl] = sorted(kept | set(failed))
    cache.write_or_warn(_last_failed_file(), json.dumps(data, indent=1, sort_keys=True) + "\n")


def quick_tier() -> dict[str, str]:
    """The quick tier's case ids, each with why it is in."""
    from . import quick

    try:
        _, why = quick.read()
    except quick.QuickTierError as exc:
        raise UsageError(str(exc)) from None
    return why


def select_run(args):
    """The cases of a run: -k and --tag, then --family/--backend/--preset (each repeatable, any
    of them matches), then --last-failed (only those) or --failed-first (those first)."""
    from .reports import backend_of, family_of

    if args.shard:
        from . import shard

        try:
            args.shard = "{}/{}".format(*shard.parse(args.shard))  # one spelling in reports
        except shard.ShardError as exc:
            raise UsageError(str(exc)) from None
    cases = select(args.k, args.tag)
    if args.quick:
        why = quick_tier()
        cases = [c for c in cases if c.id in why]
    filters = [
        (args.family, lambda c: family_of(c.id)),
        (args.backend, lambda c: backend_of(c.id)),
        (args.preset, lambda c: c.preset.name),
    ]
    for wanted, key in filters:
        if wanted:
            cases = [c for c in cases if key(c) in wanted]
    if not cases:
        raise UsageError("no case matches the selection (see `obsconf list --tags`)")
    if args.shard:
        cases = _shard(cases, args.shard)
    failed = _last_failed(args.impl) if (args.last_failed or args.failed_first) else set()
    if args.last_failed and not {c.id for c in cases} & failed:
        # as pytest's --lf: with nothing failed to run again, run the whole selection
        print(f"--last-failed: no case of this selection failed in {args.impl}'s last run; running all "
              f"{len(cases)}", flush=True)
    elif args.last_failed:
        cases = [c for c in cases if c.id in failed]
    elif args.failed_first:
        cases = [c for c in cases if c.id in failed] + [c for c in cases if c.id not in failed]
    return cases


def _shard(items, text, key=lambda case: case.id):
    from . import shard

    try:
        return shard.select(items, text, key)
    except shard.ShardError as exc:
        raise UsageError(str(exc)) from None


DEFAULT_TIMEOUT = 600.0  # seconds a case may take in a worker; the slowest case of the corpus takes about 20


def isolation_settings(args) -> tuple[int, float | None, int | None]:
    """(workers, per-case timeout, per-worker memory cap) of a run; 0 workers: the cases
    run in this process. By default every core has a worker and both limits are on;
    `-j 1` alone runs in this process (a debugger, a profiler); 0 turns a limit off."""
    from .isolation import default_jobs, default_max_memory

    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"-j {args.jobs}: give 1 or more worker processes")
    if getattr(args, "pdb", False):
        if args.jobs not in (None, 1) or args.timeout or args.max_memory:
            raise UsageError("--pdb runs the cases in this process: give no -j, --timeout or --max-memory with it")
        args.no_capture = True
        return 0, None, None
    if args.jobs == 1 and args.timeout is None and args.max_memory is None:
        return 0, None, None
    jobs = args.jobs or default_jobs()
    # --convert converts every case four or five times on each side: densenet161 takes 3 minutes
    default = DEFAULT_TIMEOUT * (3 if getattr(args, "convert", False) else 1)
    timeout = default if args.timeout is None else (args.timeout or None)
    max_memory = default_max_memory(jobs) if args.max_memory is None else (args.max_memory or None)
    return jobs, timeout, max_memory


def cmd_run(args) -> int:
    select_ids(args.k, args.tag)  # a -k or --tag that matches nothing is told before torch loads
    from models import all_cases

    from . import reports
    from .runner import run_case
    from .expectations import XPASS, Expectations, ExpectationsError, judge

    impl = load(args.impl)
    if args.expectations and args.ledger:
        raise UsageError("give --expectations or --ledger, not both")
    try:
        expectations = Expectations.load(args.expectations) if args.expectations else None
        if args.ledger:
            import torch

            from models import pt2e_source

            # entries about one pt2e source (`pt2e = "torch.ao"`) need to know this one's
            expectations = Ledger.load(args.ledger, torch.__version__, pt2e_source.here())
    except (ExpectationsError, LedgerError) as exc:
        raise UsageError(str(exc)) from None
    store = golden_store(args)
    verdicts = []
    declared_skips = {}
    to_run = []
    cases = select_run(args)
    if args.ledger:
        from .matrix import absent_cases

        known = {c.id for c in all_cases()}
        # goldens no recipe here builds: skips that cost nothing, all reported by shard 1 of a sharded run
        if not args.shard or args.shard.startswith("1/"):
            for case_id, reason in absent_cases(store, known, lambda case_id: _absent_selected(case_id, args)):
                verdicts.append(judge(Outcome(case_id, SKIPPED, message=reason), None))
    for case in cases:
        skip = expectations.skips(case.id) if expectations else None
        if skip is not None:
            skip.used += 1
            declared_skips[case.id] = skip
        else:
            to_run.append(case)

    from .progress import Progress

    progress = Progress(len(to_run)) if not args.quiet_progress else None
    if args.quick:
        print(f"quick tier: {len(to_run)} cases that kill every mutant of prepare.py the whole corpus kills "
              f"(conformance/quick_tier.txt); the full run is the same command without --quick", flush=True)

    first_failure = []  # -x: the first case that fails the run

    def report(outcome) -> None:
        verdict = expectations.judge(outcome) if expectations else judge(outcome, None)
        verdicts.append(verdict)
        if progress is not None:
            progress.clear()
        if verdict.kind == XPASS:
            print(f"XPASS {outcome.case_id}: {verdict.why}", flush=True)
        elif not verdict.ok:
            print(outcome.report() + (f"\n    ({verdict.why})" if expectations and verdict.why else ""), flush=True)
            if args.tb and outcome.detail:
                print("\n".join(f"    | {line}" for line in outcome.detail.rstrip().splitlines()), flush=True)
            if args.exitfirst and not first_failure:
                first_failure.append(outcome.case_id)
        elif args.verbose:
            print(outcome.report() + (" (expected)" if verdict.expectation else ""), flush=True)
        if progress is not None:
            progress.advance()

    for case_id, skip in declared_skips.items():
        verdicts.append(judge(Outcome(case_id, SKIPPED, message=f"expected skip: {skip.reason}"), skip))
    jobs, timeout, max_memory = isolation_settings(args)
    from . import runner
    from .interrupt import stop_requests

    runner.CAPTURE = not args.no_capture
    runner.KEEP_PLANS = bool(args.html)
    runner.CONVERT = args.convert
    runner.REJECTION_MATCH = args.rejections
    if args.pdb:
        import pdb

        runner.DEBUG_HOOK = lambda exc: pdb.post_mortem(exc.__traceback__)

    with stop_requests("stopping: the cases running now are abandoned" if jobs
                       else "stopping after the case running now") as stop:
        try:
            if jobs:
                from .isolation import run_isolated

                run_isolated(to_run, impl, store, jobs=jobs, timeout=timeout, on_outcome=report,
                             max_memory=max_memory, on_start=progress.running if progress is not None else None,
                             stop=lambda: stop.requested or bool(first_failure))
            else:
                for case in to_run:
                    if stop.requested or first_failure:
                        break
                    if progress is not None:
                        progress.running([case.id])
                    report(run_case(case, impl, store))
        except KeyboardInterrupt:  # a second signal, or one that reached Python another way
            stop.request()
    if progress is not None:
        progress.close()
    finished = {v.outcome.case_id for v in verdicts}
    not_run = [c.id for c in to_run if c.id not in finished]
    if not_run:
        why = "INTERRUPTED" if stop.requested else f"STOPPED at the first failure ({first_failure[0]}, -x)"
        print(f"{why} after {len(to_run) - len(not_run)} of {len(to_run)} cases; not run: "
              f"{', '.join(not_run[:3])}{f' and {len(not_run) - 3} more' if len(not_run) > 3 else ''}")
    # a run of some families is asked only for the ledger entries about those families
    unused = ([] if not expectations or not_run else
              expectations.unused([v.outcome.case_id for v in verdicts]) if args.ledger else expectations.unused())
    for entry in unused:
        print(f"UNUSED {entry.describe()} matched no case of this run" + (" (it no longer occurs?)" if args.ledger else ""))
    unwritten = []  # a report that cannot be written costs that report, not the summary
    for kind in ("json", "junit", "markdown"):
        if getattr(args, kind):
            try:
                reports.write(kind, getattr(args, kind), verdicts, impl.name, args.strict, not_run, args.shard)
            except OSError as exc:
                unwritten.append(f"cannot write the {kind} report {getattr(args, kind)}: {exc.strerror or exc}")
    failing = [v for v in verdicts if not v.ok and not (v.kind == XPASS and not args.strict)]
    _remember_failed(impl.name, [v.outcome.case_id for v in verdicts],
                     [v.outcome.case_id for v in verdicts if not v.ok and v.kind != XPASS])
    if len({reports.family_of(v.outcome.case_id) for v in verdicts}) > 1:
        for line in reports.summary_table(verdicts, reports.family_of, "family"):
            print(line)
    c = reports.counts(verdicts)
    line = summary({CONFORM: c[CONFORM], DIFFER: c[DIFFER], ERROR: c[ERROR], SKIPPED: c[SKIPPED]})
    if expectations:
        noun = "ledger entries" if args.ledger else "expectation(s)"
        line += f", {c['expected']} expected, {c['xpass']} xpass, {len(unused)} unused {noun}"
    line += f", {len(not_run)} not run" if not_run else ""
    negative, refused = reports.negative_counts(verdicts)
    if negative:
        line += f"; negative cases: {refused} of {negative} refused as the oracle refuses"
    line += " (quick tier)" if args.quick else ""  # last: it says what the whole line counted
    if args.html:
        import torch

        from . import report_page

        try:
            page = report_page.write(args.html, verdicts, impl.name, torch.__version__, args.strict, not_run, store, line)
            print(f"wrote {page}")
        except OSError as exc:
            unwritten.append(f"cannot write the HTML report into {args.html}: {exc.strerror or exc}")
    print(line)
    if args.convert:
        for reason, count in skip_reasons(verdicts):
            print(f"    {count} skipped: {reason}")
    for problem in unwritten:
        print(f"obsconf: error: {problem}", file=sys.stderr)
    if unwritten:
        return 2
    if stop.requested:
        return stop.exit_code
    return 1 if failing else 0


def skip_reasons(verdicts) -> list[tuple[str, int]]:
    """Why the skipped cases were skipped, most common first (`run --convert` says it)."""
    from collections import Counter

    found = Counter(v.outcome.message for v in verdicts if v.outcome.status == SKIPPED)
    return sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))


def golden_store(args) -> GoldenStore:
    """The golden folder a command reads: a --golden-dir that is not there is a setup
    error (exit 2), not one error per case."""
    try:
        return GoldenStore(args.golden_dir).require_folder()
    except GoldenError as exc:
        raise UsageError(str(exc)) from None


def cmd_costs(args) -> int:
    from pathlib import Path

    from . import shard

    try:
        path, count = shard.write_costs([Path(r) for r in args.reports], merge=args.merge)
    except shard.ShardError as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {path}: the measured cost of {count} cases")
    return 0


def cmd_show(args) -> int:
    store = golden_store(args)
    if args.impl:
        from models import SkipCase

        from .runner import produce_plan

        case = find_case(args.case)
        try:
            plan = produce_plan(case, load(args.impl))
        except (CaseError, SkipCase) as exc:
            print(f"ERROR {case.id}: {exc}")
            return 1
        print(plan.to_text({"case": case.id, "producer": args.impl}), end="")
        return 0
    check_case_id(args.case)
    try:
        store.load(args.case)  # the same checks as a run: present, readable, unedited, this case's
    except GoldenError as exc:
        print(f"ERROR {args.case}: {exc}")
        return 1
    print(store.read_text(args.case), end="")
    return 0


def cmd_diff(args) -> int:
    check_case_id(args.case)  # a mistyped id is told before torch loads
    from models import SkipCase

    from . import diff
    from .runner import produce_plan

    case = find_case(args.case)
    impl = load(args.impl)
    store = golden_store(args)
    try:
        expected = store.load(case.id)
        actual = produce_plan(case, impl)
    except (GoldenError, CaseError, SkipCase) as exc:
        print(f"ERROR {case.id}: {exc}")
        return 1
    differences = diff.compare(expected, actual)
    for line in differences:
        print(line)
    print(f"{case.id}: {len(differences)} difference(s) between the golden and {impl.name} (each `A != B`: golden != {impl.name})")
    if args.html or args.png:
        from . import picture

        writers = [
            (args.html, lambda: write_atomic(args.html, picture.html_report(case.id, impl.name, expected, actual,
                                                                             differences))),
            (args.png, lambda: picture.side_by_side(expected, actual, case.id, impl.name).save(args.png)),
        ]
        for path, write in writers:
            if not path:
                continue
            try:
                write()
            except (OSError, ValueError) as exc:  # ValueError: Pillow knows no format for the file's suffix
                raise UsageError(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}") from None
            print(f"wrote {path}")
    return 1 if differences else 0


def cmd_explain(args) -> int:
    check_case_id(args.case)  # a mistyped id is told before torch loads
    from models import SkipCase

    from .explain import explain

    case = find_case(args.case)
    try:
        lines = explain(case, load(args.impl))
    except (CaseError, SkipCase) as exc:
        print(f"ERROR {case.id}: {exc}")
        return 1
    print("\n".join(lines))
    return 0


def cmd_coverage(args) -> int:
    from . import coverage

    select(args.k)  # a pattern that matches nothing is a usage error here too
    result = coverage.measure(args.k)
    print(f"oracle run: {result['run_summary']}")
    for line in coverage.report_lines(result):
        print(line)
    if args.write:
        from pathlib import Path

        command = "obsconf coverage" + "".join(f" -k {p}" for p in args.k or []) + f" --write {args.write}"
        path = Path(args.write) / "oracle-coverage.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(coverage.markdown(result, command))
        print(f"wrote {path}")
    return 0


def cmd_fuzz(args) -> int:
    """Live differential testing on generated graphs (or, with --freeze, a sample of them
    written into the frozen `hypothesis` family)."""
    from . import fuzz

    impl, against = load(args.impl), load(args.against)
    if args.freeze or args.negatives:
        fuzz.freeze_sample(args.freeze, args.seed if args.seed is not None else 0, against, args.max_nodes,
                           negatives=args.negatives, path=args.path)
        return 0
    last = [0.0]

    def progress(report):
        if report.seconds - last[0] >= 10:
            last[0] = report.seconds
            print(f"  ... {report.compared} compared ({report.refused} refused by {against.name}), "
                  f"{report.rate:.1f} examples/s", flush=True)

    try:
        report = fuzz.fuzz(impl, against, args.examples, args.seed, args.profile, args.max_nodes, progress,
                           path=args.path)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if report.divergence is not None:
        print(f"DIVERGENCE between {impl.name} and {against.name} (expected), shrunk to:")
        print(fuzz.spec_text(report.divergence.spec), end="")
        for line in report.divergence.differences:
            print(f"    {line}")
        if not args.no_pending:
            found = {"impl": impl.name, "against": against.name, "seed": args.seed, "profile": args.profile}
            path = fuzz.write_pending(report.divergence, found)
            print(f"wrote pending case {path} (review it; `obsconf regen --accept` freezes it into the corpus)")
    print(report.summary())
    return 1 if report.divergence else 0


def cmd_invariants(args) -> int:
    """Metamorphic invariants on generated graphs: no oracle needed."""
    from . import metamorphic

    impl = load(args.impl)
    known = metamorphic.PT2E_INVARIANTS if args.path == "pt2e" else metamorphic.INVARIANTS
    which = tuple(args.only or known)
    unknown = set(which) - set(known)
    if unknown:
        raise UsageError(f"unknown invariant(s) {sorted(unknown)} of the {args.path} path (known: {', '.join(known)})")
    checked, message, spec = metamorphic.run_invariants(impl, args.examples, args.seed, args.profile, which,
                                                        path=args.path)
    if message:
        from .fuzz import spec_text

        print(f"BROKEN {message}\nshrunk to:\n{spec_text(spec)}", end="")
    print(f"{checked} generated cases checked against {', '.join(which)}: {'broken' if message else 'all hold'}")
    return 1 if message else 0


def cmd_strength(args) -> int:
    """Mutation score: run mutants of the oracle's prepare.py against the corpus."""
    import time
    from pathlib import Path

    from . import mutants, strength

    def only(mutant) -> bool:
        return not args.only or any(_matches(mutant.id, p) or mutant.operator == p for p in args.only)

    target = mutants.TARGETS[args.target]
    if args.list:
        for mutant in mutants.generate(mutants.source_path(target).read_text()):
            if only(mutant):
                print(mutant.describe())
        return 0
    if args.retier and target is not mutants.FX:
        raise UsageError("--retier: the quick tier is chosen from the mutants of torch's prepare.py (--target fx)")
    if args.retier:
        try:
            print(f"wrote {strength.retier(select(None))}")
        except strength.StrengthError as exc:
            raise UsageError(str(exc)) from None
        return 0
    started = time.monotonic()
    try:
        # the mutants of a path's prepare.py run on that path's cases (the pt2e family for pt2e)
        cases = [c for c in select(args.k) if (c.path == "pt2e") == (target is mutants.PT2E)]
        chosen, results, _ = strength.run(cases, jobs=args.jobs, case_timeout=args.case_timeout, only=only,
                                          fresh=args.fresh, max_cases=args.max_cases,
                                          depth=args.depth, store=GoldenStore(args.golden_dir), target=target)
        every = mutants.generate(mutants.source_path(target).read_text()) if args.only else chosen
        equivalents = strength.EQUIVALENTS_PT2E if target is mutants.PT2E else strength.EQUIVALENTS
        problems = strength.settle_equivalents(chosen, results, strength.load_equivalents(equivalents), every)
    except strength.StrengthError as exc:
        raise UsageError(str(exc)) from None
    if not chosen:
        raise UsageError(f"no mutant matches --only {' --only '.join(args.only)} (see `obsconf strength --list`)")
    for problem in problems:
        print(f"EQUIVALENTS {problem}")
    for mutant in chosen:
        record = results.get(mutant.id, {})
        if record.get("status") == strength.SURVIVED:
            print(f"SURVIVED {mutant.describe()}")
        elif record.get("status") == strength.ERRORED:
            print(f"ERRORED {mutant.describe()}: {record.get('detail')}")
    figures = strength.tally(chosen, results)
    if not args.only and not args.k and not args.max_cases and not problems and target is mutants.FX:
        # a run over every mutant and case: the quick tier follows from its kills
        print(f"wrote {strength.write_quick_tier(chosen, results, select(None))}")
    wall = time.monotonic() - started
    summed = sum(results[m.id].get("seconds", 0.0) for m in chosen if m.id in results)
    print(strength.summary_line(figures) + f" (this run {wall:.0f} s; worker time of all results {summed:.0f} s)")
    if args.report:
        command = ("obsconf strength" + (f" --target {args.target}" if target is not mutants.FX else "")
                   + "".join(f" -k {p}" for p in args.k or []) + f" --report {args.report}")
        text = strength.markdown(chosen, results, mutants.source_path(target).read_text(), command,
                                 f"this invocation {wall:.0f} s on {args.jobs} core(s), resuming from the cache; "
                                 f"{summed / 60:.0f} min of worker time in the latest result of each mutant", target)
        write_atomic(Path(args.report), text)
        print(f"wrote {args.report}")
    return 1 if problems or figures["score"] < args.fail_under else 0


def cmd_matrix(args) -> int:
    """Keep each release's behaviour record (from the tox environments' JSON reports) and
    write the case x release table; with --check, only say where records, ledger and
    table disagree."""
    from pathlib import Path

    from . import matrix

    if args.suggest:
        try:
            report = matrix.read_json(Path(args.suggest))
        except matrix.MatrixError as exc:
            raise UsageError(str(exc)) from None
        for line, case_ids in matrix.suggest(report, args.ledger):
            print(f"{len(case_ids):5d} {line}\n      e.g. {', '.join(case_ids[:3])}")
        return 0
    if args.results is not None and not Path(args.results).is_dir():
        raise UsageError(f"--results {args.results}: no such folder (the tox environments write their reports "
                         f"into {matrix.RESULTS})")
    try:
        if not args.check:
            for path in matrix.update(args.ledger, Path(args.results or matrix.RESULTS)):
                print(f"recorded {path}")
        records = matrix.load_records()
        if not records:
            raise UsageError(f"no behaviour record in {matrix.RECORDS}: run a tox environment first (tox -e torch2.0)")
        problems = matrix.check(records, args.ledger)
        main, every = matrix.markdown(records, args.ledger)
    except (matrix.MatrixError, LedgerError) as exc:
        raise UsageError(str(exc)) from None
    for problem in problems:
        print(f"MATRIX {problem}")
    if args.check:
        stale = [str(p) for p, text in ((matrix.TABLE, main), (matrix.RECORDS / "cases.md", every))
                 if not p.is_file() or p.read_text() != text]
        for path in stale:
            print(f"MATRIX {path} is not what the records and the ledger give: run `obsconf matrix`")
        problems += stale
    else:
        matrix.write(records, args.ledger)
        print(f"wrote {matrix.TABLE} and {matrix.RECORDS / 'cases.md'}")
    print(f"{len(records)} record(s): " + ", ".join(r["torch"] + (f" + torchao {matrix.paired_torchao(r)}" if matrix.paired_torchao(r) else "")
                                                 for r in records) + f"; {len(problems)} problem(s)")
    return 1 if problems else 0


def cmd_compare(args) -> int:
    """Two implementations on a model outside the corpus; with --save-case, also record
    it as a case in the user's cases folder (--cases DIR)."""
    from models import SkipCase

    from . import byo
    from .contract import load as load_callable

    if args.save_case is not None:
        if not args.cases:
            raise UsageError("--save-case: name the folder of your cases with --cases DIR (DIR/cases.json and its "
                             "goldens in DIR/golden/ are yours; obsconf's checkout stays as it is)")
        if ":" in args.example_inputs:
            raise UsageError("--save-case needs --example-inputs as shapes (1x3x8x8,...): a case is data")
    builder = load_callable(args.model, what="model").prepare
    try:
        if args.save_case is not None:
            byo.check_name(args.save_case)
        if ":" in args.example_inputs:
            make_inputs = load_callable(args.example_inputs, what="example inputs").prepare
        else:
            shapes = byo.parse_shapes(args.example_inputs)
            make_inputs = lambda: shapes  # noqa: E731
        case = byo.make_case(builder, make_inputs, args.qconfig, args.backend, name=args.save_case or "model",
                             family="compare" if args.save_case is None else "user")
        byo.check_runs(case, args.model, args.example_inputs)
    except byo.CompareError as exc:
        raise UsageError(str(exc)) from None
    impl, against = load(args.impl), load(args.against)
    try:
        differences = byo.compare_case(case, impl, against)
    except (CaseError, SkipCase) as exc:
        print(f"ERROR {args.model}: {exc}")
        return 1
    for line in differences:
        print(line)
    print(f"{args.model} under {case.preset.name}: {len(differences)} difference(s) between {against.name} (expected) "
          f"and {impl.name} (each `A != B`: {against.name} != {impl.name})")
    if args.save_case is not None:
        from pathlib import Path

        from models import user

        try:
            path = user.save(args.save_case, args.model, args.example_inputs, args.qconfig, args.backend,
                             Path(args.cases))
        except OSError as exc:
            raise UsageError(f"--cases {args.cases}: cannot write {exc.filename or args.cases}: {exc.strerror or exc}") from None
        print(f"saved as case {case.id} in {path}; make its golden with "
              f"`obsconf --cases {args.cases} regen -k {case.id}`")
    return 1 if differences else 0


def cmd_regen(args) -> int:
    """Regenerate goldens from the oracle: show what changes, then write (or, with --check,
    only prove that nothing would change). Each golden is written atomically, a second
    regen on the same folder is refused, and a Ctrl-C stops between cases, saying which
    were not regenerated (every golden on disk is then the old one or the new one)."""
    import contextlib

    from models import all_cases
    from models.hypothesis_graphs import BROKEN

    from .interrupt import stop_requests

    store = golden_store(args) if args.check else GoldenStore(args.golden_dir)  # regen may make the folder
    if args.accept:
        from .fuzz import accept_pending

        accepted, failed = accept_pending(store=store)
        print(f"{accepted} pending case(s) accepted, {failed} failed")
        return 1 if failed else 0
    cases = select(args.k, args.tag)
    try:
        with contextlib.nullcontext() if args.check else store.writing(), \
                stop_requests("stopping after the case being regenerated") as stop:
            tally, done = _regen_cases(cases, store, args, stop)
    except GoldenError as exc:
        raise UsageError(str(exc)) from None
    if len(done) < len(cases):
        left = [c.id for c in cases if c.id not in done]
        print(f"INTERRUPTED: {len(done)} of {len(cases)} cases {'checked' if args.check else 'regenerated'}; "
              f"not {'checked' if args.check else 'regenerated'} (each golden on disk is the old one or the new one): "
              f"{', '.join(left[:3])}{f' and {len(left) - 3} more' if len(left) > 3 else ''}")
    known = {c.id for c in all_cases()}
    orphans = [i for i in store.orphans(known) if _selected(i, args.k)]
    # a golden of a case whose file is too broken to tell its preset is that case's, not an orphan
    broken = {i.rsplit("/", 1)[0] for i in known if i.endswith(f"/{BROKEN}")}
    kept = [o for o in orphans if o.rsplit("/", 1)[0] in broken]
    for golden in kept:
        print(f"KEPT {store.path(golden)}: its case ({golden.rsplit('/', 1)[0]}) cannot be read; fix its file, "
              f"then regenerate")
    orphans = [o for o in orphans if o not in kept]
    for orphan in orphans:
        if args.prune and not args.check:
            store.remove(orphan)
            print(f"REMOVED orphan {store.path(orphan)}")
        else:
            print(f"ORPHAN {store.path(orphan)}: no case has this id (remove it with "
                  f"`{store.regen_command(*(args.k or []))} --prune`)")
    print(f"{tally['unchanged']} unchanged, {tally['changed']} {'stale' if args.check else 'changed'}, "
          f"{tally['created']} {'missing' if args.check else 'new'}, {len(orphans)} orphan, {tally['error']} error, "
          f"{tally['skipped']} skipped" + (f", {len(cases) - len(done)} not done" if len(done) < len(cases) else ""))
    if stop.requested:
        return stop.exit_code
    if args.check:
        return 0 if tally["changed"] == tally["created"] == tally["error"] == 0 and not orphans else 1
    return 0 if tally["error"] == 0 else 1


def _regen_cases(cases, store: GoldenStore, args, stop) -> tuple[dict[str, int], set[str]]:
    """Regenerate (or check) each case until the end or a stop request: the tally, and
    the ids of the cases done. A golden that cannot be written is a GoldenError."""
    from models import SkipCase

    from .golden import golden_header
    from .runner import REJECTS, produce_plan

    oracle = load("torch")
    tally = dict.fromkeys(("unchanged", "changed", "created", "error", "skipped"), 0)
    done: set[str] = set()
    for case in cases:
        if stop.requested:
            break
        try:
            old_text = store.read_text(case.id)
        except GoldenError as exc:
            old_text, note = "", exc
        else:
            note = None
        try:
            # the golden on disk, when it reads, spares the trace for node names
            header, old_plan = store.load_with_header(case.id, old_text) if old_text else ({}, None)
        except GoldenError:
            header, old_plan = {}, None
        try:
            try:
                new_plan = produce_plan(case, oracle, golden=old_plan, golden_torch=header.get("torch"))
                new_text = new_plan.to_text(golden_header(case.id))
                if old_plan is not None and new_text != old_text:
                    # a golden is written from the names a trace gives, never from an older golden's
                    new_plan = produce_plan(case, oracle)
                    new_text = new_plan.to_text(golden_header(case.id))
            except KeyboardInterrupt:  # a second Ctrl-C: this case is not done
                stop.request()
                break
        except SkipCase as exc:
            tally["skipped"] += 1
            done.add(case.id)
            print(f"SKIPPED {case.id}: {exc}")
            continue
        except CaseError as exc:
            tally["error"] += 1
            done.add(case.id)
            print(f"ERROR {case.id}: {exc}")
            continue
        if REJECTS in case.tags and new_plan.rejection is None:
            tally["error"] += 1
            done.add(case.id)
            print(f"ERROR {case.id}: a negative case (tag {REJECTS}), but the oracle accepts it: "
                  f"drop it from its recipe's `rejects`")
            continue
        if note is not None:
            print(f"note: {note}")
        if old_text == new_text:
            tally["unchanged"] += 1
        elif old_text is None:
            tally["created"] += 1
            print(f"{'MISSING' if args.check else 'NEW'} {case.id}")
        else:
            tally["changed"] += 1
            print(f"{'STALE' if args.check else 'CHANGED'} {case.id}")
            _show_change(old_text, new_text, args.context)
        if old_text != new_text and not args.check:
            try:
                store.write(case.id, new_text)
            except OSError as exc:
                left = len(cases) - len(done)
                raise GoldenError(f"cannot write golden {store.path(case.id)}: {exc.strerror or exc}; "
                                  f"{left} case(s) from {case.id} on not regenerated") from None
        done.add(case.id)
    return tally, done


def _show_change(old: str, new: str, limit: int) -> None:
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), "golden", "oracle now", lineterm="", n=0))
    for line in lines[2 : 2 + limit]:
        print(f"    {line}")
    if len(lines) - 2 > limit:
        print(f"    ... {len(lines) - 2 - limit} more diff lines (raise --context)")


# -- parsing ------------------------------------------------------------------------------------


def _at_least(kind, least: int, what: str):
    """An argparse type: a number of `kind`, `least` or more (`what` says so)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole ' if kind is int else ''}number") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"{text}: give {what}")
        return value
    return parse


_count = _at_least(int, 1, "1 or more")  # something counted


def _limit(kind):
    """A limit: 0 (none) or more."""
    return _at_least(kind, 0, "0 (no limit) or more")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="obsconf", description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--golden-dir", default=None, help="golden folder (default: golden/ of this checkout)")
    parser.add_argument("--cases", default=None, metavar="DIR",
                        help="your own cases folder: DIR/cases.json (compare --save-case writes it) and their goldens "
                             "in DIR/golden/; its cases join the corpus as the `user` family")
    parser.add_argument("--cache-dir", default=None, metavar="DIR",
                        help="where state between commands is kept (--last-failed, the case index, strength results; "
                             "default: $OBSCONF_CACHE_DIR, else the platform's cache folder, ~/.cache/obsconf)")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_k(p):
        p.add_argument("-k", action="append", metavar="PATTERN", help="case id glob or substring (repeatable)")
        return p

    def with_tag(p):
        p.add_argument("--tag", action="append", metavar="TAG",
                       help="only cases with one of these tags (repeatable; `obsconf list --tags` shows them)")
        return p

    p = with_tag(with_k(sub.add_parser("list", help="list case ids")))
    p.add_argument("--family", action="append", help="only these families (repeatable: pt2e, zoo, ...)")
    p.add_argument("--tags", action="store_true", help="also print each case's tags")
    p.add_argument("--excluded", action="store_true", help="list what the corpus leaves out, with the reason")
    p.add_argument("--quick", action="store_true", help="only the quick tier's cases, each with why it is in")
    p.add_argument("--shard", metavar="K/N", help="only the K-th of N parts of the selection, balanced by cost")
    p.set_defaults(func=cmd_list)

    p = with_k(sub.add_parser("run", help="run an implementation against the goldens"))
    p.add_argument("--impl", required=True, help="torch, reference, or package.module:callable")
    p.add_argument("-v", "--verbose", action="store_true", help="also print conforming cases")
    p.add_argument("--quick", action="store_true",
                   help="the quick tier: the few cases that kill every mutant of prepare.py the corpus kills "
                        "(about a minute; conformance/quick_tier.txt)")
    p.add_argument("--family", action="append", help="only these families (repeatable)")
    p.add_argument("--backend", action="append", help="only presets of these backends (x86, qnnpack, ..., none)")
    p.add_argument("--preset", action="append", help="only these presets (x86-static, ...)")
    p.add_argument("--tag", action="append", help="only cases with one of these tags (op or feature; see list --tags)")
    p.add_argument("--shard", metavar="K/N",
                   help="only the K-th of N parts of the selection (balanced by each case's measured cost, the same "
                        "on every machine): for a run spread over N machines; `obsconf matrix` merges their reports")
    p.add_argument("--last-failed", action="store_true", help="only the cases that failed in this IUT's last run")
    p.add_argument("--failed-first", action="store_true", help="the cases that failed last time first, then the rest")
    p.add_argument("--expectations", metavar="FILE", help="TOML file of expected differences, errors and skips")
    p.add_argument("--ledger", nargs="?", const=str(DEFAULT_LEDGER), metavar="FILE",
                   help="judge against the divergence ledger (golden/ledger.toml when no FILE): for another torch "
                        "release's oracle; golden cases this environment cannot build are skipped with the reason")
    p.add_argument("--strict", action="store_true", help="a case that conforms although expected not to fails the run")
    p.add_argument("--convert", action="store_true",
                   help="also calibrate the IUT's and the oracle's prepared models on the same inputs, convert both "
                        "(convert_to_reference_fx, convert_fx, with the qconfig mapping, _convert_equalization_ref) "
                        "and compare the quantized models (needs torch's own prepare; cases built on the meta device "
                        "are skipped)")
    p.add_argument("--rejections", choices=REJECTION_MATCHES, default=None,
                   help="on negative cases (tag rejects), how the IUT's refusal must match the oracle's: the same "
                        "exception class and a message containing the oracle's (message, the default), or the class "
                        "alone (class, for an IUT that words its errors its own way; one IUT can ask for it with "
                        "`prepare.obsconf_rejections = 'class'`)")
    p.add_argument("--json", metavar="FILE", help="write a JSON report")
    p.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")
    p.add_argument("--markdown", metavar="FILE", help="write a Markdown summary per family and backend")
    p.add_argument("--html", metavar="DIR", help="write an HTML report: DIR/index.html, and a page per case that "
                                                 "does not conform with its differences and pictures")
    p.add_argument("--quiet-progress", action="store_true", help="no progress bar or progress lines")
    p.add_argument("--tb", action="store_true",
                   help="under an IUT's error, its traceback and what it printed (captured, as pytest does)")
    p.add_argument("-x", "--exitfirst", action="store_true", help="stop at the first case that fails the run")
    p.add_argument("--pdb", action="store_true",
                   help="enter the debugger where the IUT raised (runs the cases in this process, output not captured)")
    p.add_argument("-s", "--no-capture", action="store_true", help="let the IUT print to the terminal (with -j 1)")
    p.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                   help="worker processes (default: one per core); -j 1 runs the cases in this process, "
                        "for debugging, unless --timeout or --max-memory is given")
    p.add_argument("--timeout", type=_limit(float), default=None, metavar="SECONDS",
                   help=f"per case: a case still running after this is killed and reported as an error "
                        f"(default {DEFAULT_TIMEOUT:g} with workers, three times that with --convert; 0: none)")
    p.add_argument("--max-memory", type=_limit(int), default=None, metavar="MB",
                   help="per worker: memory it may map beyond what it maps when started; more is that case's "
                        "MemoryError (default: 3/4 of the machine's memory shared among the workers; 0: no cap)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("costs", help="record each case's measured cost, for --shard, from JSON run reports")
    p.add_argument("reports", nargs="+", metavar="REPORT", help="JSON reports of `obsconf run --json` (ideally the oracle's)")
    p.add_argument("--merge", action="store_true",
                   help="keep the recorded cost of every case the reports do not list (after a run of new cases)")
    p.set_defaults(func=cmd_costs)

    p = sub.add_parser("show", help="print a case's golden plan (or, with --impl, the plan an IUT produces)")
    p.add_argument("case")
    p.add_argument("--impl", default=None)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("diff", help="differences between a case's golden and an implementation")
    p.add_argument("case")
    p.add_argument("--impl", required=True)
    p.add_argument("--html", metavar="FILE", help="also write an HTML page with both observed graphs as pictures")
    p.add_argument("--png", metavar="FILE", help="also write the picture alone")
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("explain", help="for every observed edge, the reference rule that placed its observers")
    p.add_argument("case")
    p.add_argument("--impl", default="reference", help="an IUT that records rules (the reference does)")
    p.set_defaults(func=cmd_explain)

    p = with_k(sub.add_parser("coverage", help="line and branch coverage of the oracle's prepare by the corpus"))
    p.add_argument("--write", metavar="DIR", help="also write DIR/oracle-coverage.md (figures, uncovered lines, why)")
    p.set_defaults(func=cmd_coverage)

    p = with_tag(with_k(sub.add_parser("regen", help="regenerate goldens from the oracle (torch's own prepare)")))
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if any golden is stale, missing or orphaned")
    p.add_argument("--prune", action="store_true", help="remove orphaned goldens")
    p.add_argument("--context", type=_limit(int), default=20, help="diff lines shown per changed golden")
    p.add_argument("--accept", action="store_true",
                   help="freeze the pending cases `obsconf fuzz` wrote (models/generated/pending/) into the corpus")
    p.set_defaults(func=cmd_regen)

    p = sub.add_parser("matrix", help="the case x torch-release behaviour table from the tox environments' reports")
    p.add_argument("--results", default=None, metavar="DIR",
                   help="JSON reports of `obsconf run --impl torch --ledger` to record (default: .obsconf-cache/matrix, "
                        "where tox.ini's environments write them)")
    p.add_argument("--ledger", default=str(DEFAULT_LEDGER), metavar="FILE", help="the divergence ledger")
    p.add_argument("--check", action="store_true",
                   help="record nothing, write nothing: fail where records, ledger and docs/matrix.md disagree")
    p.add_argument("--suggest", metavar="REPORT",
                   help="only print the unlisted differences of a JSON report, generalised and grouped: drafts of ledger entries")
    p.set_defaults(func=cmd_matrix)

    p = sub.add_parser("compare", help="compare two implementations on a model outside the corpus")
    p.add_argument("--model", required=True, metavar="PKG.MOD:BUILDER", help="a callable that returns the float model")
    p.add_argument("--example-inputs", required=True, metavar="SHAPES|PKG.MOD:CALLABLE",
                   help="shapes (1x3x8x8,1x4: seeded randn) or a callable returning the input tuple")
    p.add_argument("--qconfig", default="x86-static", metavar="PRESET", help="a preset: x86-static, x86-qat, ...")
    p.add_argument("--backend", default=None, help="replace the preset's backend config (x86, qnnpack, ..., none)")
    p.add_argument("--impl", required=True)
    p.add_argument("--against", default="torch")
    p.add_argument("--save-case", metavar="NAME",
                   help="also save it as case user/NAME/<preset> in your cases folder (give --cases DIR)")
    p.set_defaults(func=cmd_compare)

    def generated(p):
        p.add_argument("--examples", type=_count, default=None, help="examples to compare (default: the profile's)")
        p.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: the profile's)")
        p.add_argument("--profile", default="ci", help="ci (bounded, derandomised) or deep (long, random)")
        p.add_argument("--max-nodes", type=_count, default=12, help="nodes per generated graph, about")
        return p

    p = generated(sub.add_parser("fuzz", help="compare an implementation with the oracle on generated graphs"))
    p.add_argument("--impl", required=True, help="the implementation under test")
    p.add_argument("--against", default="torch", help="the expected side (default: torch, the oracle)")
    p.add_argument("--no-pending", action="store_true", help="do not write a divergence as a pending case")
    p.add_argument("--path", choices=("fx", "pt2e"), default="fx",
                   help="which path of prepare: fx (graphs and qconfig mappings, the default) or pt2e (exported "
                        "graphs and generated annotations)")
    p.add_argument("--freeze", type=int, default=0, metavar="N",
                   help="instead, write N generated cases the --against side accepts into models/generated/")
    p.add_argument("--negatives", type=int, default=0, metavar="M",
                   help="instead (or beside --freeze N), write up to M generated cases the --against side "
                        "refuses into models/generated/, as negative cases")
    p.set_defaults(func=cmd_fuzz)

    p = generated(sub.add_parser("invariants", help="metamorphic invariants on generated graphs (no oracle)"))
    p.add_argument("--impl", required=True)
    p.add_argument("--only", action="append", metavar="NAME",
                   help="rename, reorder, respell, no-qconfig, duplicate; with --path pt2e: no-annotation")
    p.add_argument("--path", choices=("fx", "pt2e"), default="fx",
                   help="which path of prepare: fx (the default) or pt2e (generated annotations)")
    p.set_defaults(func=cmd_invariants)

    p = with_k(sub.add_parser("strength", help="mutation score: how many mutants of the oracle's prepare.py the corpus kills"))
    p.add_argument("-j", "--jobs", type=_count, default=2, help="mutants run at once, each in its own worker (default 2)")
    p.add_argument("--only", action="append", metavar="PATTERN", help="only mutants whose id matches, or an operator")
    p.add_argument("--list", action="store_true", help="list the mutants and run nothing")
    p.add_argument("--target", choices=("fx", "pt2e"), default="fx",
                   help="whose prepare.py to mutate: torch's fx/prepare.py (the default; the corpus but the pt2e "
                        "family) or torchao's pt2e/prepare.py (the pt2e family)")
    p.add_argument("--retier", action="store_true",
                   help="choose the quick tier again from the kills it records (no mutant runs): after the corpus "
                        "gained a family, backend or reference rule")
    p.add_argument("--fresh", action="store_true", help="ignore cached results (they stay in the cache file)")
    p.add_argument("--depth", choices=("local", "fast", "all"), default="fast",
                   help="how far survivors go: the cheapest case of each distinct set of lines executed in the "
                        "mutant's function (local), then in all of prepare.py (fast, default), then every case "
                        "executing the mutant (all)")
    p.add_argument("--max-cases", type=_count, default=None, metavar="N", help="run each mutant on at most N cases")
    p.add_argument("--case-timeout", type=float, default=120.0, metavar="SECONDS",
                   help="a mutant with no case finished in this long is killed (a hang) (default 120)")
    p.add_argument("--report", metavar="FILE", help="write the Markdown report (docs/strength.md)")
    p.add_argument("--fail-under", type=float, default=0.0, metavar="PERCENT",
                   help="exit 1 when fewer non-equivalent mutants than this are killed")
    p.set_defaults(func=cmd_strength)
    return parser


def _choose_cases(args) -> None:
    """--cases DIR: a folder that is there (or, for `compare --save-case`, will be)."""
    from pathlib import Path

    folder = Path(args.cases)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--cases {args.cases}: not a folder")
    if not folder.exists() and getattr(args, "save_case", None) is None:
        raise UsageError(f"--cases {args.cases}: no such folder (save a case into it with "
                         f"`obsconf --cases {args.cases} compare ... --save-case NAME`)")
    cases_folder.choose(folder)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    import os

    from . import cache

    saved = {name: os.environ.get(name) for name in (cache.ENV, cases_folder.ENV)}
    try:
        if args.cache_dir:
            cache.choose(args.cache_dir)
        if args.cases:
            _choose_cases(args)
        return args.func(args)
    except (UsageError, ImplementationError, UserCasesError) as exc:
        print(f"obsconf: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a command without a stopping point of its own (run and regen have one)
        print(f"\nobsconf: {args.command} interrupted", file=sys.stderr)
        return 130
    finally:  # the folders chosen are this command's (main() may be called again in one process)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
