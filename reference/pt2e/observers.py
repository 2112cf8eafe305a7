"""Rule family: the observer or fake-quantize each group gets, built once from a spec."""

from __future__ import annotations

import copy
import dataclasses

from .annotations import is_shared
from .sharing import Groups


def observer_per_group(groups: Groups, specs: dict, is_qat: bool) -> dict:
    """One instance per group, built from the spec of the group's first member in
    annotation order; every member of the group maps to that instance."""
    per_group, instances = {}, {}
    for key, spec in specs.items():
        group = groups.representative(key)
        if group not in per_group:
            per_group[group] = build(spec, instances, is_qat)
        instances[key] = per_group[group]
    return instances


def build(spec, instances: dict, is_qat: bool):
    """None builds nothing; the other spec kinds build as their rules say."""
    if spec is None:
        return None
    if is_shared(spec):
        return shared_instance(spec, instances)
    kind = type(spec).__name__
    if kind == "DerivedQuantizationSpec":
        return derived_observer(spec, instances)
    if kind == "FixedQParamsQuantizationSpec":
        return fixed_qparams_observer(spec, is_qat)
    if kind != "QuantizationSpec":
        raise AssertionError(f"Expected QuantizationSpec got: {spec}")
    return observer_from_spec(spec)


def shared_instance(spec, instances: dict):
    """A SharedQuantizationSpec met first in its group takes the instance of what it names,
    which must be built already (AssertionError)."""
    if spec.edge_or_node not in instances:
        raise AssertionError("please make sure only refer to edge or node that has observer/fake_quant inserted: "
                             f"'{spec.edge_or_node}' not in\n{instances.keys()}")
    return instances[spec.edge_or_node]


def derived_observer(spec, instances: dict):
    """A DerivedQuantizationSpec builds a DerivedObserverOrFakeQuantize over the instances of
    the edges and nodes it derives from (built already: KeyError), with its function, dtype,
    range, qscheme and ch_axis."""
    from torchao.quantization.pt2e import DerivedObserverOrFakeQuantize

    return DerivedObserverOrFakeQuantize(
        dtype=spec.dtype, obs_or_fqs=[instances[k] for k in spec.derived_from], derive_qparams_fn=spec.derive_qparams_fn,
        quant_min=spec.quant_min, quant_max=spec.quant_max, qscheme=spec.qscheme, ch_axis=spec.ch_axis)


def _fields(spec) -> dict:
    return copy.deepcopy({f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)})


def fixed_qparams_observer(spec, is_qat: bool):
    """A FixedQParamsQuantizationSpec builds a FixedQParamsObserver of its fields, wrapped in
    a FixedQParamsFakeQuantize under QAT."""
    from torchao.quantization.pt2e.fake_quantize import FixedQParamsFakeQuantize
    from torchao.quantization.pt2e.observer import FixedQParamsObserver

    constructor = FixedQParamsObserver.with_args(**_fields(spec))
    return FixedQParamsFakeQuantize.with_args(observer=constructor)() if is_qat else constructor()


def observer_from_spec(spec):
    """A QuantizationSpec builds its observer_or_fake_quant_ctr with the spec's other fields;
    ch_axis only reaches a class whose name says PerChannel (the class a with_args
    constructor wraps), so a per-channel fake-quantize keeps its observer's default axis."""
    from torchao.quantization.pt2e.observer import PartialWrapper

    kwargs = _fields(spec)
    constructor = kwargs.pop("observer_or_fake_quant_ctr")
    cls = constructor.p.func if isinstance(constructor, PartialWrapper) else constructor
    if "PerChannel" not in cls.__name__:
        kwargs.pop("ch_axis")
    return constructor.with_args(**kwargs)()
