"""Rule family: which qconfig each node (and each module) gets.

Precedence, lowest first: global < object_type < module_name_regex < module_name <
module_name_object_type_order.
"""

from __future__ import annotations

import re
import weakref
from collections import defaultdict

import torch
from torch.ao.nn.intrinsic import _FusedModule
from torch.ao.quantization import FakeQuantizeBase, ObserverBase
from torch.ao.quantization.observer import MovingAveragePerChannelMinMaxObserver, PerChannelMinMaxObserver, _PartialWrapper
from torch.ao.quantization.qconfig import _add_module_to_qconfig_obs_ctr, qconfig_equals
from torch.ao.quantization.qconfig_mapping import QConfigMapping
from torch.fx import GraphModule
from torch.nn.utils.parametrize import type_before_parametrizations


def parent_name(name: str) -> str:
    """`a.b` for `a.b.c`; `` for a top-level name."""
    return name.rpartition(".")[0]


def mappings_are_mappings(mapping, equalization_mapping) -> None:
    """The qconfig mapping, then the equalization mapping, must each be a QConfigMapping (or
    its dict form, read before tracing): anything else is refused (AssertionError), after
    tracing and fusion, which do not read them."""
    if not isinstance(mapping, QConfigMapping):
        raise AssertionError("qconfig_mapping must be a QConfigMapping")
    if not isinstance(equalization_mapping, QConfigMapping):
        raise AssertionError("_equalization_config must be a QConfigMapping")


def add_fused_module_types(model: GraphModule, mapping: QConfigMapping) -> None:
    """A fused module takes the object_type qconfig of its parts, which must all agree."""
    object_types = mapping.object_type_qconfigs
    if not object_types:
        return
    modules = dict(model.named_modules())
    for node in model.graph.nodes:
        fused = modules.get(str(node.target)) if node.op == "call_module" else None
        if not isinstance(fused, _FusedModule):
            continue
        parts = list(fused._modules.values())
        qconfig = object_types.get(type(parts[0]))
        for part in parts[1:]:
            if not qconfig_equals(object_types.get(type(part)), qconfig):
                raise LookupError(
                    f"During fusion, we need to specify the same qconfigs for all module types in "
                    f"{type(fused)} offending type: {type(part)}"
                )
        if qconfig is not None:
            object_types[type(fused)] = qconfig


def add_qat_module_types(mapping: QConfigMapping, float_to_qat: dict) -> None:
    """After the QAT swap, a QAT class takes the object_type qconfig of its float class."""
    for float_type, qconfig in list(mapping.object_type_qconfigs.items()):
        if float_type in float_to_qat:
            mapping.object_type_qconfigs[float_to_qat[float_type]] = qconfig


def assign_eager_qconfigs(model, mapping: QConfigMapping, config) -> None:
    """Eager-mode inheritance, which decides QAT swaps: a module takes its parent's qconfig,
    overridden by its type's (the class it had before any parametrization), then by its exact name's (regexes do not apply here); a
    qconfig already set on a module wins. Non-traceable children are not visited."""
    flat = {"": mapping.global_qconfig, **mapping.object_type_qconfigs, **mapping.module_name_qconfigs}
    device_memo: dict = {}  # module -> its devices, found once

    def visit(module, inherited, prefix):
        """One module's qconfig, then its traceable children's."""
        qconfig = flat.get(prefix, flat.get(type_before_parametrizations(module), inherited))
        qconfig = getattr(module, "qconfig", qconfig)
        refuse_per_channel_conv_transpose(qconfig, module)
        qconfig = on_module_device(qconfig, module, device_memo)
        module.qconfig = qconfig
        for name, child in module.named_children():
            if name in config.non_traceable_module_names or type(child) in config.non_traceable_module_classes:
                continue
            visit(child, qconfig, f"{prefix}.{name}" if prefix else name)

    visit(model, None, "")


def refuse_per_channel_conv_transpose(qconfig, module) -> None:
    """A ConvTranspose1d/2d/3d whose eager qconfig builds a per-channel weight observer is
    refused (AssertionError): there is no per-channel quantized transposed convolution."""
    conv_transpose = (torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)
    if qconfig is None or qconfig.weight is None or not isinstance(module, conv_transpose):
        return
    if isinstance(qconfig.weight(), (PerChannelMinMaxObserver, MovingAveragePerChannelMinMaxObserver)):
        raise AssertionError("Per channel weight observer is not supported yet for ConvTranspose{n}d.")


def module_qconfig(mapping: QConfigMapping, object_type, module_name: str, fallback):
    """object_type overrides the fallback, the first matching name regex overrides that,
    and the nearest enclosing module_name entry overrides everything."""
    qconfig = mapping.object_type_qconfigs.get(object_type, fallback)
    for pattern, regex_qconfig in mapping.module_name_regex_qconfigs.items():
        if re.match(pattern, module_name):
            qconfig = regex_qconfig
            break
    name = module_name if mapping.module_name_qconfigs else ""  # (no walk when there is nothing to find)
    while name:
        if name in mapping.module_name_qconfigs:
            return mapping.module_name_qconfigs[name]
        name = parent_name(name)
    return qconfig


def by_call_order(mapping: QConfigMapping, module_path: str, object_type, index: int, fallback):
    """module_name_object_type_order: the index-th call of object_type directly inside module_path."""
    return mapping.module_name_object_type_order_qconfigs.get((module_path, object_type, index), fallback)


def node_qconfigs(model: GraphModule, modules: dict, mapping: QConfigMapping, scopes: dict) -> dict:
    """The qconfig of every node, by op kind; call_module nodes also store it on their module.

    Functions resolve by function type within their scope module, then by call order;
    methods by method name, then by their scope module's type and name; modules by their
    own type and name, then by call order within their parent; get_attr nodes by their
    owning module. Placeholders and outputs have none."""
    global_qconfig = mapping.global_qconfig
    device_memo: dict = {}  # module -> its devices, found once
    calls: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    result = {}
    for node in model.graph.nodes:
        qconfig = None
        if node.op == "get_attr":
            owner = parent_name(node.target)
            qconfig = module_qconfig(mapping, type(modules[owner]), owner, global_qconfig)
        elif node.op == "call_function":
            path, scope_type = scopes[node.name]
            qconfig = mapping.object_type_qconfigs.get(node.target, global_qconfig)
            qconfig = module_qconfig(mapping, scope_type, path, qconfig)
            index = calls[path][node.target]
            calls[path][node.target] += 1
            qconfig = by_call_order(mapping, path, node.target, index, qconfig)
        elif node.op == "call_method":
            path, scope_type = scopes[node.name]
            qconfig = module_qconfig(mapping, node.target, path, global_qconfig)
            qconfig = module_qconfig(mapping, scope_type, path, qconfig)
        elif node.op == "call_module":
            module = modules[node.target]
            if is_observer(module):
                continue
            qconfig = module_qconfig(mapping, type(module), node.target, global_qconfig)
            path, scope_type = scopes[node.name]
            index = calls[parent_name(path)][scope_type]
            calls[parent_name(path)][scope_type] += 1
            qconfig = by_call_order(mapping, parent_name(path), scope_type, index, qconfig)
        result[node.name] = on_module_device(qconfig, modules.get(node.target), device_memo)
        if node.op == "call_module":
            modules[node.target].qconfig = result[node.name]
    return result


_ON_DEVICE: dict[tuple, tuple] = {}


def module_devices(module, memo: dict) -> tuple:
    """(the devices of a module's parameters, of its buffers), each in the order
    `parameters()` and `buffers()` meet them: its own, then each child's in turn. Kept in
    `memo`, so a model's modules are walked once, not once per module."""
    if module not in memo:
        children = [module_devices(child, memo) for child in module._modules.values() if child is not None]
        own = [[t.device for t in ts.values() if t is not None] for ts in (module._parameters, module._buffers)]
        memo[module] = tuple(tuple(dict.fromkeys(own[i] + [d for c in children for d in c[i]])) for i in (0, 1))
    return memo[module]


def on_module_device(qconfig, module, memo: dict):
    """A qconfig whose constructors build observers on the module's device (torch's own
    wrapper, which builds an observer to test each constructor): made once per qconfig
    and set of devices, since modules on the same devices get the same constructors. The
    wrapper reads the devices each time it builds an observer, so it is given a stand-in
    holding one empty tensor per device, not the module (the root's would walk the model)."""
    if qconfig is None or module is None:
        return qconfig
    # the devices in the order the wrapper meets them: which one it picks of several follows it
    devices = module_devices(module, memo)
    key = (id(qconfig), devices)
    if key not in _ON_DEVICE or _ON_DEVICE[key][0] is not qconfig:
        if len(_ON_DEVICE) > 256:
            _ON_DEVICE.clear()
        stand_in = torch.nn.Module()
        for i, device in enumerate(devices[0]):
            stand_in.register_parameter(f"p{i}", torch.nn.Parameter(torch.empty(0, device=device)))
        for i, device in enumerate(devices[1]):
            stand_in.register_buffer(f"b{i}", torch.empty(0, device=device))
        _ON_DEVICE[key] = (qconfig, _add_module_to_qconfig_obs_ctr(qconfig, stand_in))  # keeps the id taken
    return _ON_DEVICE[key][1]


def is_observer(module) -> bool:
    """Observers and fake-quantize modules (activation post-processes)."""
    return isinstance(module, (ObserverBase, FakeQuantizeBase))


def is_observed_standalone(module) -> bool:
    """A GraphModule already prepared as a standalone module."""
    attrs = getattr(module, "meta", {}).get("_observed_graph_module_attrs") if isinstance(module, GraphModule) else None
    return bool(attrs is not None and getattr(attrs, "is_observed_standalone_module", False))


_PROTOTYPES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def prototype(ctr):
    """An instance of what an observer constructor builds, made once per constructor: only
    read (dtype, ranges), never inserted. Observers are costly to build and rules ask often.
    A constructor whose only late-bound argument is the device (qconfigs per module) shares
    the prototype of the constructor it wraps."""
    try:
        return _PROTOTYPES[ctr]
    except (KeyError, TypeError):
        pass
    if isinstance(ctr, _PartialWrapper) and set(ctr.callable_args) <= {"factory_kwargs"}:
        obs = prototype(ctr.p)
    else:
        obs = ctr()
    try:
        _PROTOTYPES[ctr] = obs
    except TypeError:  # a constructor that cannot be weakly referenced
        pass
    return obs


def activation_dtypes(qconfig) -> tuple:
    """(activation dtype, weight dtype, whether the activation is dynamic)."""
    activation, weight = prototype(qconfig.activation), prototype(qconfig.weight)
    return activation.dtype, weight.dtype, getattr(activation, "is_dynamic", False)


STATIC_DTYPES = (torch.quint8, torch.qint8, torch.qint32, torch.float16, torch.uint8, torch.int8,
                 torch.int16, torch.int32, torch.float8_e5m2, torch.float8_e4m3fn)


def is_static(qconfig) -> bool:
    """The activation is quantized (to an integer, float8 or float16 dtype), not dynamically."""
    act, _, dynamic = activation_dtypes(qconfig)
    return act in STATIC_DTYPES and not dynamic
