"""Implementations with one planted fault each (the oracle, then one change), and
implementations that misbehave: the runner must report exactly the fault, in one line.

Usable from the command line too: `obsconf run --impl tests.planted:drop_one_observer`.
"""

from __future__ import annotations

import copy

import torch
from torch.fx import GraphModule

from conformance.contract import oracle_prepare
from conformance.describe import is_observer


def _observer_nodes(gm: GraphModule):
    modules = dict(gm.named_modules(remove_duplicate=False))
    return [n for n in gm.graph.nodes if n.op == "call_module" and is_observer(modules[str(n.target)])], modules


def _remove_observers(gm: GraphModule, victims) -> GraphModule:
    """Take observer nodes out of the graph: their users read the observed value directly."""
    for node in victims:
        node.replace_all_uses_with(node.args[0])
        gm.graph.erase_node(node)
    gm.recompile()
    return gm


def drop_one_observer(model, qconfig_mapping, example_inputs, **kwargs):
    """The oracle, then the first observer that sits on a graph input is removed."""
    gm = oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    nodes, _ = _observer_nodes(gm)
    victim = next(n for n in nodes if n.args[0].op == "placeholder")
    return _remove_observers(gm, [victim])


def output_observer_qint8(model, qconfig_mapping, example_inputs, **kwargs):
    """The oracle, then the observer right before the graph output records qint8."""
    gm = oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    nodes, modules = _observer_nodes(gm)
    victim = next(n for n in reversed(nodes) if any(u.op == "output" for u in n.users))
    modules[str(victim.target)].dtype = torch.qint8
    return gm


def split_shared_observer(model, qconfig_mapping, example_inputs, **kwargs):
    """The oracle, then the last observer node of a shared instance gets its own copy."""
    gm = oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    nodes, modules = _observer_nodes(gm)
    seen: dict[int, object] = {}
    victim = None
    for node in nodes:
        module = modules[str(node.target)]
        if id(module) in seen:
            victim = node
        seen[id(module)] = node
    if victim is not None:
        setattr(gm, str(victim.target), copy.deepcopy(modules[str(victim.target)]))
    return gm


def raises(model, qconfig_mapping, example_inputs, **kwargs):
    raise RuntimeError("planted failure\nwith a second line")


def returns_none(model, qconfig_mapping, example_inputs, **kwargs):
    return None


not_callable = 42


def oracle_without_cat_sharing(model, qconfig_mapping, example_inputs, **kwargs):
    """The oracle with observer sharing for torch.cat disabled: cat's inputs and output keep
    observers of their own (prepare is told the sharing succeeded, so nothing is removed)."""
    import sys

    prepare_module = sys.modules["torch.ao.quantization.fx.prepare"]  # the package exports a function of that name
    original = prepare_module._maybe_make_input_output_share_observers

    def share(node, *args, **kw):
        return True if node.target is torch.cat else original(node, *args, **kw)

    prepare_module._maybe_make_input_output_share_observers = share
    try:
        return oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    finally:
        prepare_module._maybe_make_input_output_share_observers = original


# -- faults that only the metamorphic invariants see (no oracle needed to catch them) ---------


def _drop_observers_after(gm: GraphModule, producer_matches) -> GraphModule:
    nodes, _ = _observer_nodes(gm)
    return _remove_observers(gm, [n for n in nodes if producer_matches(n.args[0])])


def name_dependent(model, qconfig_mapping, example_inputs, **kwargs):
    """The oracle, then observers after modules whose names start with `z` are removed."""
    gm = oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    return _drop_observers_after(gm, lambda n: n.op == "call_module" and str(n.target).startswith("z"))


def order_dependent(model, qconfig_mapping, example_inputs, **kwargs):
    """The oracle, then the observers after the first call_function node in graph order are removed."""
    gm = oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    first = next((n for n in gm.graph.nodes if n.op == "call_function"), None)
    return _drop_observers_after(gm, lambda n: n is first)


def ignores_global_none(model, qconfig_mapping, example_inputs, **kwargs):
    """The oracle, but a mapping whose global qconfig is None gets the default one."""
    from torch.ao.quantization import QConfigMapping, get_default_qconfig

    if isinstance(qconfig_mapping, QConfigMapping) and qconfig_mapping.global_qconfig is None:
        qconfig_mapping.set_global(get_default_qconfig("x86"))
    return oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)


def first_of_each_class(model, qconfig_mapping, example_inputs, **kwargs):
    """The oracle, then only the first call_module of each module class keeps the observers after it."""
    gm = oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    modules = dict(gm.named_modules())
    seen: set[type] = set()
    later = set()
    for n in gm.graph.nodes:
        if n.op == "call_module" and not is_observer(modules[str(n.target)]):
            cls = type(modules[str(n.target)])
            (later.add(n) if cls in seen else seen.add(cls))
    return _drop_observers_after(gm, lambda n: n in later)


def dict_mapping_loses_object_types(model, qconfig_mapping, example_inputs, **kwargs):
    """The oracle, but a mapping given in the dict form loses its object_type entries."""
    if isinstance(qconfig_mapping, dict):
        qconfig_mapping = {k: v for k, v in qconfig_mapping.items() if k != "object_type"}
    return oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)


def hangs_forever_if_run(model, qconfig_mapping, example_inputs, **kwargs):
    """Never returns: only a run that skips its cases can finish."""
    import time

    while True:
        time.sleep(3600)


def _is_target(model, kwargs) -> bool:
    """The misbehaving IUTs below misbehave on one case only: patterns/cat/x86-qat (the cat
    model, in QAT)."""
    return type(model).__name__ == "Cat" and bool(kwargs.get("is_qat"))


def hangs_on_one_case(model, qconfig_mapping, example_inputs, **kwargs):
    """The oracle, except that it never returns on patterns/cat/x86-qat."""
    import time

    while _is_target(model, kwargs):
        time.sleep(3600)
    return oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)


def exits_on_one_case(model, qconfig_mapping, example_inputs, **kwargs):
    """The oracle, except that it kills the interpreter (os._exit) on patterns/cat/x86-qat."""
    import os

    if _is_target(model, kwargs):
        os._exit(3)
    return oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)


def patches_torch_on_one_case(model, qconfig_mapping, example_inputs, **kwargs):
    """The oracle, except that after preparing patterns/cat/x86-qat it replaces torch.cat for
    good: that case itself comes out right, every later case with a cat breaks."""
    result = oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    if _is_target(model, kwargs):
        def broken_cat(*args, **kw):
            raise RuntimeError("torch.cat was monkeypatched by an earlier case")

        torch.cat = broken_cat
    return result


def leaks_on_one_case(model, qconfig_mapping, example_inputs, **kwargs):
    """The oracle, except that on patterns/cat/x86-qat it keeps allocating 256 MB blocks."""
    if _is_target(model, kwargs):
        hoard = []
        while True:
            hoard.append(bytearray(256 * 1024 * 1024))
    return oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)


def records_its_process(model, qconfig_mapping, example_inputs, **kwargs):
    """The oracle, appending the id of the process it runs in to $OBSCONF_TEST_PID_FILE."""
    import os

    with open(os.environ["OBSCONF_TEST_PID_FILE"], "a") as record:
        record.write(f"{os.getpid()}\n")
    return oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)


def prints_and_raises(model, qconfig_mapping, example_inputs, **kwargs):
    """Prints megabytes, then fails with an IUT's own bug."""
    import sys

    for _ in range(20000):
        print("chatter " * 10)
        sys.stderr.write("more chatter\n")
    observers = {}
    return observers["activation_post_process_3"]


# -- state faults: the oracle's placement, one item of what convert reads dropped or changed
# (docs/convert-inventory.md). Each must be one difference in a plain run and one with --convert.


def _attrs(gm: GraphModule):
    return gm.meta["_observed_graph_module_attrs"]


def forgets_weight_indexes(model, qconfig_mapping, example_inputs, **kwargs):
    """node.meta["target_dtype_info"] without weight and bias indexes."""
    gm = oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    for node in gm.graph.nodes:
        node.meta.pop("target_dtype_info", None)
    return gm


def forgets_preserved_attributes_meta(model, qconfig_mapping, example_inputs, **kwargs):
    """The preserved attributes set on the model but not kept in meta (lost by deepcopy)."""
    gm = oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    gm.meta.pop("_user_preserved_attributes", None)
    return gm


def root_scope_everywhere(model, qconfig_mapping, example_inputs, **kwargs):
    """node_name_to_scope says every node runs in the root module."""
    gm = oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    attrs = _attrs(gm)
    attrs.node_name_to_scope = {name: ("", type(gm)) for name in attrs.node_name_to_scope}
    return gm


def _stored_config_without(which: str, model, qconfig_mapping, example_inputs, **kwargs):
    gm = oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    attrs = _attrs(gm)
    attrs.prepare_custom_config = getattr(copy.deepcopy(attrs.prepare_custom_config), f"set_{which}_quantized_indexes")([])
    return gm


def forgets_quantized_inputs(model, qconfig_mapping, example_inputs, **kwargs):
    """The stored prepare custom config loses its input_quantized_indexes."""
    return _stored_config_without("input", model, qconfig_mapping, example_inputs, **kwargs)


def stores_an_empty_mapping(model, qconfig_mapping, example_inputs, **kwargs):
    """The qconfig mapping stored for convert is an empty one."""
    from torch.ao.quantization import QConfigMapping

    gm = oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    _attrs(gm).qconfig_mapping = QConfigMapping()
    return gm


def module_qconfig_none(model, qconfig_mapping, example_inputs, **kwargs):
    """The `qconfig` attribute of the called linear modules is None."""
    gm = oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    modules = dict(gm.named_modules())
    for node in gm.graph.nodes:
        if node.op == "call_module" and isinstance(modules[str(node.target)], torch.nn.Linear):
            modules[str(node.target)].qconfig = None
    return gm


def forgets_observed_linear(model, qconfig_mapping, example_inputs, **kwargs):
    """observed_node_names without the called linear modules."""
    gm = oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    modules = dict(gm.named_modules())
    linears = {n.name for n in gm.graph.nodes
               if n.op == "call_module" and isinstance(modules[str(n.target)], torch.nn.Linear)}
    _attrs(gm).observed_node_names = set(_attrs(gm).observed_node_names) - linears
    return gm


def linear_node_qconfig_none(model, qconfig_mapping, example_inputs, **kwargs):
    """node_name_to_qconfig says None for the called linear modules."""
    gm = oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    modules = dict(gm.named_modules())
    attrs = _attrs(gm)
    for n in gm.graph.nodes:
        if n.op == "call_module" and isinstance(modules[str(n.target)], torch.nn.Linear):
            attrs.node_name_to_qconfig[n.name] = None
    return gm


def flips_is_qat(model, qconfig_mapping, example_inputs, **kwargs):
    """is_qat recorded the other way round."""
    gm = oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    _attrs(gm).is_qat = not _attrs(gm).is_qat
    return gm


def forgets_equalization(model, qconfig_mapping, example_inputs, **kwargs):
    """equalization_node_name_to_qconfig recorded as None everywhere."""
    gm = oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    attrs = _attrs(gm)
    attrs.equalization_node_name_to_qconfig = dict.fromkeys(attrs.equalization_node_name_to_qconfig or {})
    return gm


def standalone_forgets_output_quantized(model, qconfig_mapping, example_inputs, **kwargs):
    """A standalone module's observed state loses its quantized output indexes."""
    gm = oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    for module in gm.modules():
        attrs = getattr(module, "meta", {}).get("_observed_graph_module_attrs")
        if attrs is not None and attrs.is_observed_standalone_module:
            attrs.standalone_module_output_quantized_idxs = []
    return gm


def forgets_quantized_outputs(model, qconfig_mapping, example_inputs, **kwargs):
    """The stored prepare custom config loses its output_quantized_indexes."""
    return _stored_config_without("output", model, qconfig_mapping, example_inputs, **kwargs)


def standalone_not_marked(model, qconfig_mapping, example_inputs, **kwargs):
    """A standalone module's observed state does not say it is one."""
    gm = oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    for name, module in gm.named_modules():
        attrs = getattr(module, "meta", {}).get("_observed_graph_module_attrs")
        if name and attrs is not None:
            attrs.is_observed_standalone_module = False
    return gm


def qat_linear_back_to_float(model, qconfig_mapping, example_inputs, **kwargs):
    """The QAT linear swapped back to a float nn.Linear that keeps its qconfig and weight fake quant."""
    gm = oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    from torch.ao.nn.qat import Linear as QATLinear

    for name, module in list(gm.named_modules()):
        if type(module) is QATLinear:
            float_linear = module.to_float()
            float_linear.qconfig, float_linear.weight_fake_quant = module.qconfig, module.weight_fake_quant
            setattr(gm, name, float_linear)
    return gm


def narrow_weight_fake_quant(model, qconfig_mapping, example_inputs, **kwargs):
    """The QAT weight fake quants quantize to half their range."""
    gm = oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    for name, module in gm.named_modules():
        if name.endswith("weight_fake_quant"):
            module.quant_min, module.quant_max = module.quant_min // 2, module.quant_max // 2
            module.activation_post_process.quant_min = module.quant_min
            module.activation_post_process.quant_max = module.quant_max
    return gm


def relu_becomes_hardtanh(model, qconfig_mapping, example_inputs, **kwargs):
    """Every F.relu node calls F.hardtanh instead (no observer touched)."""
    import torch.nn.functional as F

    gm = oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    for node in gm.graph.nodes:
        if node.op == "call_function" and node.target is F.relu:
            node.target, node.kwargs = F.hardtanh, {}
    gm.recompile()
    return gm


def split_first_shared_observer(model, qconfig_mapping, example_inputs, **kwargs):
    """The first observer node of a shared instance gets its own copy."""
    gm = oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    nodes, modules = _observer_nodes(gm)
    count: dict[int, int] = {}
    for node in nodes:
        count[id(modules[str(node.target)])] = count.get(id(modules[str(node.target)]), 0) + 1
    victim = next(n for n in nodes if count[id(modules[str(n.target)])] > 1)
    setattr(gm, str(victim.target), copy.deepcopy(modules[str(victim.target)]))
    return gm


# -- refusals (negative cases, tag `rejects`) ------------------------------------------------


def never_refuses(model, qconfig_mapping, example_inputs, **kwargs):
    """The oracle, but where it raises, the traced float model is returned instead."""
    pristine = copy.deepcopy(model)
    try:
        return oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    except Exception:
        return torch.fx.symbolic_trace(pristine)


def refuses_with_another_class(model, qconfig_mapping, example_inputs, **kwargs):
    """The oracle, but every refusal becomes a RuntimeError with the same message."""
    try:
        return oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    except Exception as exc:
        raise RuntimeError(str(exc)) from None


def _never_refuses_pt2e(model, quantizer, *, is_qat=False):
    """torchao's prepare_pt2e, but where it raises, the exported model is returned as it came."""
    from conformance.contract import oracle_prepare_pt2e

    pristine = copy.deepcopy(model)
    try:
        return oracle_prepare_pt2e(model, quantizer, is_qat=is_qat)
    except Exception:
        return pristine


def _refuses_with_another_class_pt2e(model, quantizer, *, is_qat=False):
    from conformance.contract import oracle_prepare_pt2e

    try:
        return oracle_prepare_pt2e(model, quantizer, is_qat=is_qat)
    except Exception as exc:
        raise RuntimeError(str(exc)) from None


never_refuses.obsconf_pt2e = _never_refuses_pt2e  # both paths under one name
refuses_with_another_class.obsconf_pt2e = _refuses_with_another_class_pt2e


def refuses_in_its_own_words(model, qconfig_mapping, example_inputs, **kwargs):
    """The oracle, but every refusal keeps its class and says something else."""
    try:
        return oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
    except Exception as exc:
        raise type(exc)("this configuration is not supported") from None


def refuses_in_its_own_words_by_class(model, qconfig_mapping, example_inputs, **kwargs):
    """refuses_in_its_own_words, asking to be matched by exception class alone."""
    return refuses_in_its_own_words(model, qconfig_mapping, example_inputs, **kwargs)


refuses_in_its_own_words_by_class.obsconf_rejections = "class"


# -- the pt2e contract: prepare_pt2e(model, quantizer, *, is_qat) ----------------------------


class _AnnotatesThen:
    """A quantizer that annotates as `inner` does, then lets `change(model)` edit the
    annotations: what prepare then places is the planted fault."""

    def __init__(self, inner, change):
        self.inner, self.change = inner, change

    def transform_for_annotation(self, model):
        return self.inner.transform_for_annotation(model)

    def annotate(self, model):
        self.inner.annotate(model)
        self.change(model)
        return model

    def validate(self, model):
        self.inner.validate(model)

    def prepare_obs_or_fq_callback(self, model, edge_or_node_to_obs_or_fq):
        self.inner.prepare_obs_or_fq_callback(model, edge_or_node_to_obs_or_fq)


def _annotations(model):
    return [n.meta["quantization_annotation"] for n in model.graph.nodes if "quantization_annotation" in n.meta]


def pt2e_without_implicit_sharing(model, quantizer, *, is_qat=False):
    """torchao's prepare_pt2e, but no annotation allows implicit sharing."""
    from conformance.contract import oracle_prepare_pt2e

    def change(gm):
        for annotation in _annotations(gm):
            annotation.allow_implicit_sharing = False

    return oracle_prepare_pt2e(model, _AnnotatesThen(quantizer, change), is_qat=is_qat)


pt2e_without_implicit_sharing.obsconf_contract = "pt2e"


def pt2e_ignores_derived_specs(model, quantizer, *, is_qat=False):
    """torchao's prepare_pt2e, but edges with a DerivedQuantizationSpec go unobserved."""
    from conformance.contract import oracle_prepare_pt2e

    def change(gm):
        for annotation in _annotations(gm):
            for arg, spec in list(annotation.input_qspec_map.items()):
                if type(spec).__name__ == "DerivedQuantizationSpec":
                    del annotation.input_qspec_map[arg]

    return oracle_prepare_pt2e(model, _AnnotatesThen(quantizer, change), is_qat=is_qat)


pt2e_ignores_derived_specs.obsconf_contract = "pt2e"


def xnnpack_per_tensor_quantizer():
    """A quantizer fork that forgets per-channel weights: XNNPACKQuantizer, per tensor."""
    from models.pt2e import _xnnpack

    return _xnnpack()


xnnpack_per_tensor_quantizer.obsconf_contract = "quantizer"


def pt2e_observes_graph_inputs(model, quantizer, *, is_qat=False):
    """torchao's prepare_pt2e, then a MinMaxObserver on every graph input, annotated or not."""
    from torchao.quantization.pt2e.observer import MinMaxObserver

    from conformance.contract import oracle_prepare_pt2e

    gm = oracle_prepare_pt2e(model, quantizer, is_qat=is_qat)
    for i, node in enumerate([n for n in gm.graph.nodes if n.op == "placeholder"]):
        setattr(gm, f"planted_input_observer_{i}", MinMaxObserver())
        with gm.graph.inserting_after(node):
            observer = gm.graph.call_module(f"planted_input_observer_{i}", (node,))
        node.replace_all_uses_with(observer, delete_user_cb=lambda user: user is not observer)
    gm.recompile()
    return gm


pt2e_observes_graph_inputs.obsconf_contract = "pt2e"


def asks_what_its_output_is(model, qconfig_mapping, example_inputs, **kwargs):
    """Asks sys.stdout and sys.stderr what a library asks of them (torch 2.5's dynamo asks
    isatty while it exports), then prepares as the oracle does."""
    import io
    import sys

    assert not sys.stdout.isatty() and sys.stderr.encoding and sys.stdout.writable()
    try:
        sys.stderr.fileno()
    except io.UnsupportedOperation:
        pass
    print("asked", file=sys.stderr, flush=True)
    return oracle_prepare(model, qconfig_mapping, example_inputs, **kwargs)
