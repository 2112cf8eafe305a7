"""torchao's QAT conv-bn fusion exports its match and replacement patterns (small functions
of F.conv1d/2d and batch norm) with a strict torch.export on every call: eight dynamo
exports, about 1.3 s, for every QAT case that has a batch norm. That graph is a pure
function of the pattern's code, what its closure captured, the example inputs' shapes and
dtypes (torchao draws them with randn on each call, so their values cannot matter) and
the keyword arguments. Exported once per process and handed out as a deep copy, each call
still gets a graph of its own, the same one a fresh export gives
(tests/test_pt2e.py::test_a_remembered_pattern_is_the_graph_a_fresh_export_gives).

This speeds up the oracle, the reference and any implementation that calls torchao's
fusion alike; it changes nothing they decide."""

from __future__ import annotations

import copy
import functools
import itertools
import types

import torch

def _describe(value, by_value=False):
    """A hashable stand-in for what the export depends on, or raise TypeError. An input
    tensor is a placeholder (its shape and dtype matter); a tensor a pattern captured may
    become a constant of the graph (`by_value`: its values matter too)."""
    if isinstance(value, torch.Tensor):
        values = tuple(value.detach().cpu().flatten().tolist()) if by_value else None
        return ("tensor", tuple(value.shape), value.dtype, value.device.type, values)
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, tuple(_describe(v, by_value) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, _describe(v, by_value)) for k, v in value.items())))
    if value is None or isinstance(value, (bool, int, float, str, torch.dtype)):
        return (type(value).__name__, value)
    if callable(value):  # F.conv2d, a nested pattern function
        return ("callable", _pattern_key(value))
    raise TypeError(f"cannot key on {type(value).__qualname__}")


def _pattern_key(pattern):
    """A plain function by its code and what it captured; a builtin by its name; torchao's
    WrapperModule (no state of its own) by the function it wraps; anything else (another
    module, a bound method) is not remembered."""
    if type(pattern).__name__ in ("WrapperModule", "_WrapperModule") and \
            type(pattern).__module__.startswith(("torchao.", "torch.ao.")):
        if next(itertools.chain(pattern.parameters(), pattern.buffers(), pattern.children()), None) is not None:
            raise TypeError("a WrapperModule with state of its own")
        return ("wrapper", pattern.training, _pattern_key(pattern.fn))
    if isinstance(pattern, types.BuiltinFunctionType):
        return ("builtin", pattern.__module__, pattern.__qualname__)
    if not isinstance(pattern, types.FunctionType):
        raise TypeError(f"cannot key on {type(pattern).__qualname__}")
    code = pattern.__code__
    cells = tuple(_describe(c.cell_contents, by_value=True) for c in (pattern.__closure__ or ()))
    defaults = _describe(pattern.__defaults__ or (), by_value=True)
    return (code, cells, defaults)


def install(utils, qat_utils) -> None:
    """Remember the pattern exports of this pt2e source (torchao's or torch.ao's `utils` and
    `qat_utils` modules), once per process."""
    modules = (utils, qat_utils)
    original = getattr(utils, "_get_aten_graph_module_for_pattern", None)
    if original is None or getattr(original, "remembers_exports", False):
        return
    exported: dict = {}

    @functools.wraps(original)
    def remembered(pattern, example_inputs, is_cuda=False, **kwargs):
        try:
            key = (_pattern_key(pattern), _describe(tuple(example_inputs)), is_cuda, _describe(kwargs))
            hash(key)
        except TypeError:  # something it cannot key on: export as torchao does
            return original(pattern, example_inputs, is_cuda, **kwargs)
        if key not in exported:
            exported[key] = original(pattern, example_inputs, is_cuda, **kwargs)
        return copy.deepcopy(exported[key])

    remembered.remembers_exports = True
    remembered.original = original
    for module in modules:
        if getattr(module, "_get_aten_graph_module_for_pattern", None) is original:
            module._get_aten_graph_module_for_pattern = remembered
