"""Run cases against an implementation and compare with the goldens.

Every failure of one case (the IUT raises, returns the wrong thing, the golden is
unreadable) becomes that case's one-line error; the run goes on.
"""

from __future__ import annotations

import gc
import io
import itertools
import os
import re
import time
import warnings

import torch
from torch.fx import GraphModule

from models import Case, SkipCase
from models.recipe import FX, PT2E

from . import diff
from .canonical import canonicalise, canonicalise_within
from .contract import Implementation
from .outcome import CONFORM, DIFFER, ERROR, REJECTS, SKIPPED, CaseError, Outcome, Refused  # noqa: F401 (re-exported)
from .golden import GoldenStore, bundled_goldens_torch
from .plan import Plan

def original_node_names(case: Case) -> set[str]:
    """The node names the quantization tracer gives this case's float model, so that nodes
    an IUT inserts besides observers can be told apart from the model's own. Cached per
    model builder and set of opaque modules: the presets of one recipe (and the generated
    specs of one graph) trace the same graph."""
    from torch.ao.quantization.fx.custom_config import PrepareCustomConfig
    from torch.ao.quantization.quantize_fx import get_skipped_module_name_and_classes

    pcc_factory = case.recipe.prepare_custom_config
    pcc = (pcc_factory(case.preset) if pcc_factory else None) or PrepareCustomConfig()
    names, classes = get_skipped_module_name_and_classes(pcc, False)
    # the builder itself, not the recipe's name: every model `conformance.compare` is given is `compare/model`;
    # an exported graph's names depend on train or eval mode as well
    key = (*case.recipe.model_key, case.path, case.is_qat if case.path == PT2E else None, tuple(names),
           tuple(f"{c.__module__}.{c.__qualname__}" for c in classes))
    if key not in _TRACED_NAMES:
        if len(_TRACED_NAMES) >= 64:
            _TRACED_NAMES.clear()
        _TRACED_NAMES[key] = frozenset(_trace_names(case))
    return set(_TRACED_NAMES[key])


_TRACED_NAMES: dict[tuple, frozenset] = {}


def _trace_names(case: Case) -> set[str]:
    inputs = case.materialise()
    if case.path == PT2E:  # materialise exported it: those are the names prepare_pt2e gets
        return {n.name for n in inputs.model.graph.nodes}
    return {n.name for n in trace_like_prepare(inputs.model, inputs.prepare_custom_config).nodes}


def trace_like_prepare(model, prepare_custom_config=None):
    """The graph prepare_fx traces from this model: FloatFunctional swapped, standalone and
    custom modules (and what the config names as non-traceable) left as leaves."""
    from torch.ao.quantization.fx.custom_config import PrepareCustomConfig
    from torch.ao.quantization.fx.tracer import QuantizationTracer
    from torch.ao.quantization.quantize_fx import _swap_ff_with_fxff, get_skipped_module_name_and_classes

    names, classes = get_skipped_module_name_and_classes(prepare_custom_config or PrepareCustomConfig(), False)
    _swap_ff_with_fxff(model)
    tracer = QuantizationTracer(names, classes)
    tracer.record_stack_traces = False  # a third of the trace's time, and no name depends on it
    return tracer.trace(model)


def run_iut(case: Case, impl: Implementation) -> GraphModule:
    """Call the IUT on fresh inputs; CaseError (one line) when it cannot build, raises or
    returns something that is not a GraphModule."""
    return prepare_case(case, impl)[1]


def prepare_case(case: Case, impl: Implementation, keep_inputs: bool = False):
    """(inputs, what the IUT returned), as `run_iut`. With `keep_inputs`, the inputs are
    copies made before the call, as the IUT got them (it may mutate its own), the model
    aside: the convert check hands the configs to convert."""
    try:
        inputs = case.materialise()
    except SkipCase:
        raise
    except (ImportError, AttributeError) as exc:
        if not made_the_goldens(torch.__version__):
            # another torch release lacks a mapping, backend config or class the case
            # names: that release cannot run the case (under the goldens' own, it is a bug)
            raise SkipCase(f"torch {torch.__version__} lacks what the case needs: {_one_line(exc)}") from None
        raise CaseError(f"cannot build case: {_one_line(exc)}") from None
    except Exception as exc:
        raise CaseError(f"cannot build case: {_one_line(exc)}") from None
    kept = None
    if keep_inputs:
        import copy
        import dataclasses

        kept = copy.deepcopy(dataclasses.replace(inputs, model=None))
        # the names the float model gives its modules, parameters and buffers
        kept.float_names = {name for name, _ in itertools.chain(
            inputs.model.named_modules(), inputs.model.named_parameters(), inputs.model.named_buffers())}
    prepare = impl.for_path(case.path)
    if prepare is None:
        raise SkipCase(f"IUT {impl.name!r} does not offer the {case.path} contract this case calls "
                       f"(obsconf_contract: {CONTRACT_HINT[case.path]})")
    output = CapturedOutput()
    try:
        with warnings.catch_warnings(), output.capturing():
            warnings.simplefilter("ignore")
            if case.path == PT2E:
                result = prepare(inputs.model, inputs.quantizer, is_qat=inputs.is_qat)
            else:
                result = prepare(inputs.model, inputs.qconfig_mapping, inputs.example_inputs, **inputs.kwargs())
    except Exception as exc:
        if DEBUG_HOOK is not None:
            DEBUG_HOOK(exc)
        from .describe import exception_class, exception_message

        import traceback

        frames = tuple((f.filename, f.name) for f in traceback.extract_tb(exc.__traceback__))
        raise Refused(f"IUT {impl.name!r} raised {_one_line(exc)}", iut_traceback(exc) + output.text(),
                      (exception_class(exc), exception_message(exc)), frames) from None
    if not isinstance(result, GraphModule):
        raise CaseError(
            f"IUT {impl.name!r} returned {type(result).__qualname__}, not a torch.fx.GraphModule", output.text()
        )
    return kept or inputs, result


CONTRACT_HINT = {FX: "'fx', the default", PT2E: "'pt2e' or 'quantizer'"}

# Called with the IUT's exception before it becomes the case's error: `run --pdb`.
DEBUG_HOOK = None
# Whether what the IUT prints is captured (`run -s`: it goes to the terminal).
CAPTURE = True
# Whether a differing case's outcome keeps the IUT's plan (`run --html` draws it).
KEEP_PLANS = False
# Whether each case is also converted, the IUT's prepared model against the oracle's (`run --convert`).
CONVERT = False
# How a refusal is matched with the oracle's, for every IUT (`run --rejections`); None: as
# each IUT asks (its `rejections`, "message" unless it says "class").
REJECTION_MATCH = None


def iut_traceback(exc: BaseException) -> str:
    """The traceback of an exception the IUT raised, from the IUT's first frame (the
    suite's own frame above it says nothing about the IUT)."""
    import traceback

    tb = exc.__traceback__
    if tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


class CapturedOutput(io.TextIOBase):
    """What the IUT prints to sys.stdout and sys.stderr while it prepares, kept apart from
    the run's results: the first and last LIMIT characters of it (an IUT that prints
    megabytes costs no more memory than that). A text stream in full (isatty, encoding,
    fileno's UnsupportedOperation, as io.StringIO answers them): torch 2.5's dynamo, say,
    asks sys.stdout.isatty() while it exports."""

    LIMIT = 4000
    encoding = "utf-8"

    def __init__(self):
        super().__init__()
        self.head, self.tail, self.dropped = io.StringIO(), "", 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        written = len(text)
        room = self.LIMIT - self.head.tell()
        if room > 0:
            self.head.write(text[:room])
            text = text[room:]
        if text:
            self.tail = (self.tail + text)[-self.LIMIT:]
            self.dropped += len(text)
        return written

    def flush(self) -> None:
        pass

    def capturing(self):
        import contextlib

        stack = contextlib.ExitStack()
        if not CAPTURE:
            return stack
        stack.enter_context(contextlib.redirect_stdout(self))
        stack.enter_context(contextlib.redirect_stderr(self))
        return stack

    def text(self) -> str:
        head = self.head.getvalue()
        if not head:
            return ""
        skipped = max(0, self.dropped - len(self.tail))
        middle = f"\n[... {skipped} characters ...]\n" if skipped else ""
        return f"--- what the IUT printed ---\n{head}{middle}{self.tail}"


def made_the_goldens(version: str) -> bool:
    """Whether torch `version` is the release that made the bundled goldens (true when
    there are none to compare with)."""
    made_by = bundled_goldens_torch()
    return made_by is None or _same_release(made_by, version)


def produce_plan(case: Case, impl: Implementation, collect: bool = True, golden: Plan | None = None,
                 golden_torch: str | None = None, any_refusal: bool = False) -> Plan:
    """Call the IUT on fresh inputs and canonicalise what it returns. `collect=False`
    leaves the garbage collection to the caller: the fuzzer runs it every so many
    examples. `golden`, this case's golden plan made by torch `golden_torch`, spares
    the trace for node names when it can (see `canonicalise_result`). For a negative case
    (tag `rejects`) an IUT that raises gives the plan of its refusal; `any_refusal`: for
    any case (the live differential, where no tag says beforehand which cases refuse)."""
    try:
        result = run_iut(case, impl)
    except Refused as exc:
        return rejection_plan(case, exc, any_refusal)
    try:
        return canonicalise_result(case, result, golden, golden_torch)
    except Exception as exc:
        raise CaseError(
            f"cannot canonicalise what IUT {impl.name!r} returned: {_one_line(exc)}"
        ) from None
    finally:
        del result
        release_torch_caches(collect)


def rejection_plan(case: Case, exc: Refused, any_case: bool = False) -> Plan:
    """The plan of the IUT's refusal of a negative case (of any case, `any_case`); for any
    other case its raise is the case's error (`exc` raised again)."""
    if REJECTS not in case.tags and not any_case:
        raise exc
    return Plan(rejection=exc.rejection, rejection_detail=exc.detail)


def canonicalise_result(case: Case, result: GraphModule, golden: Plan | None = None,
                        golden_torch: str | None = None) -> Plan:
    """The plan of what the IUT returned. Telling its nodes from those it inserted takes
    the names the tracer gives the float model: a second build and trace of the case.
    A golden made by this torch release (its tracer) already records them (every name of its graph
    that is not structural), and when every node of the result bears one of those, the
    plan is the same as with a trace (`canonical.canonicalise_within`): most cases."""
    # the stored mapping is recorded by how it differs from this (prepare_pt2e stores an empty one)
    given = case.preset.qconfig_mapping() if case.path == FX else None
    if golden is not None and golden_torch and _same_release(golden_torch, torch.__version__):
        plan = canonicalise_within(result, golden.node_names(), given)
        if plan is not None:
            return plan
    return canonicalise(result, original_node_names(case), given)


def _same_release(a: str, b: str) -> bool:
    from packaging.version import InvalidVersion

    from .ledger import release  # ledger imports this module

    try:
        return release(a) == release(b)
    except InvalidVersion:  # a header that names no release: trace
        return False


def run_case(case: Case, impl: Implementation, store: GoldenStore) -> Outcome:
    """One case's outcome, with its wall time."""
    started = time.perf_counter()
    outcome = _outcome(case, impl, store)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _outcome(case: Case, impl: Implementation, store: GoldenStore) -> Outcome:
    """The IUT runs first, so a case this environment cannot build is skipped whether or
    not a golden exists for it."""
    header, expected, golden_error = store.load_or_error(case.id)
    convert_differences: dict | None = {}
    try:
        if CONVERT:
            actual, convert_differences = plan_and_convert(case, impl, expected, header.get("torch"))
        else:
            actual = produce_plan(case, impl, golden=expected, golden_torch=header.get("torch"))
    except SkipCase as exc:
        return Outcome(case.id, SKIPPED, message=str(exc))
    except CaseError as exc:
        return Outcome(case.id, ERROR, message=str(exc), detail=exc.detail)
    if golden_error is not None:
        return Outcome(case.id, ERROR, message=str(golden_error))
    differences = diff.compare(expected, actual, rejections=REJECTION_MATCH or impl.rejections)
    if CONVERT and convert_differences is None and not differences:
        return Outcome(case.id, SKIPPED, message=CANNOT_CONVERT)
    convert_detail = ""
    if convert_differences:
        from .converted import summary

        line, convert_detail = summary(convert_differences)
        differences.append(line)
    convert_detail = convert_detail or (actual.rejection_detail if differences else "")
    if differences and KEEP_PLANS:
        return Outcome(case.id, DIFFER, differences, detail=convert_detail,
                       actual_plan=actual.to_text({"case": case.id, "producer": impl.name}))
    return Outcome(case.id, DIFFER if differences else CONFORM, differences, detail=convert_detail)


CANNOT_CONVERT = "--convert: built on the meta device (no weights), its prepared model cannot run; plan only"


def plan_and_convert(case: Case, impl: Implementation, golden: Plan | None, golden_torch: str | None):
    """(the IUT's plan, converter -> the differences of its converted model from the
    oracle's): `run --convert`. The differences are None for a case built on the meta device."""
    from . import converted
    from .contract import ORACLE

    try:
        inputs, result = prepare_case(case, impl, keep_inputs=True)
    except Refused as exc:
        return rejection_plan(case, exc), {}
    try:
        try:
            plan = canonicalise_result(case, result, golden, golden_torch)
        except Exception as exc:
            raise CaseError(f"cannot canonicalise what IUT {impl.name!r} returned: {_one_line(exc)}") from None
        if case.recipe.meta:
            return plan, None
        if golden is not None and golden.rejection is not None:
            return plan, {}  # the oracle refuses the case: there is no model of its to convert
        try:
            oracle_inputs, oracle_result = prepare_case(case, ORACLE, keep_inputs=True)
        except CaseError as exc:
            raise CaseError(f"--convert: the oracle cannot prepare this case: {exc}") from None
        with CapturedOutput().capturing():  # what a failing forward or convert prints
            expected = converted.outcomes(oracle_inputs, oracle_result)
            if "calibration" in expected:
                raise SkipCase(f"--convert: the oracle's prepared model cannot run on the example inputs: "
                               f"{expected['calibration']}")
            actual = converted.outcomes(inputs, result)
        return plan, converted.differences(expected, actual)
    finally:
        del result
        release_torch_caches()


def release_torch_caches(collect: bool = True, now: bool = False) -> None:
    """torch >= 2.10 memoises assert_and_get_unique_device on the module, which keeps
    every prepared model alive; clear it, and the generated sources torch.fx keeps, so
    memory stays flat over a long run.

    Prepared models are reference cycles (graph, nodes, modules), so garbage collections
    must run, but not a full one after every case: that walks every object not frozen, and
    one per case was most of the harness's time. With `collect`, the first collection
    freezes what has survived it (torch, the case list, the IUT: some 400,000 objects that
    live as long as the process), so no later one walks them; before the workers fork that
    also spares their copy-on-write pages. Every REFREEZE_EVERY cases a collection of the
    rest freezes its survivors too (the exports and traces kept for later cases): CPython's
    own collector, which reclaims the cycles in between, then walks only what the latest
    cases made. Something frozen that dies later (an export the cache lets go) waits for
    a full collection that unfreezes everything first, which runs when the process grew
    by COLLECT_GROWTH_MB since the last one, or when `now`; a model's tensors can be large
    while its objects are few.
    """
    from torch.ao.quantization.fx import utils as fx_utils

    for memoised in (fx_utils.assert_and_get_unique_device, _torchao_unique_device()):
        cache_clear = getattr(memoised, "cache_clear", None)
        if cache_clear is not None:
            cache_clear()
    _SOURCES.forget_new()
    if collect:
        _COLLECTOR.after_case(now)


def _torchao_unique_device():
    """torchao's copy of assert_and_get_unique_device (its prepare_pt2e's), when a PT2E case
    has loaded torchao; None before (importing torchao only to clear it costs seconds)."""
    import sys

    utils = sys.modules.get("torchao.utils")
    return getattr(utils, "_assert_and_get_unique_device", None)


class _GeneratedSources:
    """torch.fx keeps the source of every GraphModule it compiles, for tracebacks, in a
    process-wide cache and in linecache, forever: some 40 MB a lap of the torchvision
    family. Sources compiled after this module was imported (by the cases run since) are
    forgotten; their modules still run, only a traceback through them shows no source."""

    def __init__(self):
        self.known = set(self._cache())

    @staticmethod
    def _cache() -> dict:
        from torch.fx import graph_module

        cache = getattr(getattr(graph_module, "_loader", None), "eval_cache", None)
        return cache if isinstance(cache, dict) else {}

    def forget_new(self) -> None:
        import linecache

        cache = self._cache()
        for key in [k for k in cache if k not in self.known]:
            del cache[key]
            linecache.cache.pop(key, None)


COLLECT_GROWTH_MB = 512
REFREEZE_EVERY = 25  # cases (the reference over the whole corpus, one process: 45-49 s of GC with one freeze, 19-24 s)


class _Collector:
    def __init__(self):
        self.frozen, self.resident, self.cases = False, 0.0, 0

    def after_case(self, now: bool) -> None:
        self.cases += 1
        if now or not self.frozen or resident_mb() - self.resident > COLLECT_GROWTH_MB:
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self.frozen = True
            self.resident = resident_mb()
        elif self.cases % REFREEZE_EVERY == 0:
            gc.collect()
            gc.freeze()


_COLLECTOR = _Collector()
_SOURCES = _GeneratedSources()


def resident_mb() -> float:
    """This process's resident memory in MB (0 where /proc is not there)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    except (OSError, ValueError, AttributeError):
        return 0.0


def without_paths(message: str) -> str:
    """The message less the parenthesised file paths an ImportError appends (`from 'mod'
    (/venv/.../mod.py)`): they name this machine's checkout, not the case."""
    return re.sub(r" \((?:/|[A-Za-z]:\\)[^()]*\)", "", message)


def _one_line(exc: BaseException) -> str:
    """`Type: message` on one line, at most 300 characters, without file paths."""
    text = without_paths(" ".join(str(exc).split()))
    text = text if len(text) <= 300 else text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

