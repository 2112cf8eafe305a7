"""The ground truth the plan answers to: convert both prepared models and compare them.

`obsconf run --convert` prepares each case with the oracle and with the IUT, calibrates
both on the same deterministic inputs, converts both with torch's converters (a pt2e
case: with convert_pt2e, from the same source as its prepare_pt2e) and compares the
quantized models canonically. The plan claims that equal plans give equal
converted models; this check is how that claim is tested (docs/convert-inventory.md).

A converted model is described as facts keyed by structure, never by node or attribute
names that depend on insertion order: a node's key is its op, its target (generated
attribute names with their counter dropped: `linear_scale_#`, `_frozen_param_#`) and the keys of its
arguments, so the same quantized model gets the same keys however the graph was built.
Each fact carries a text (classes, dtypes, qschemes) that must be equal and numbers
(scales, zero points, weights) that must be close.
"""

from __future__ import annotations

import copy
import hashlib
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.fx import GraphModule, Node

from . import describe

# the relative and absolute tolerance numbers may differ by (calibration on the same
# inputs gives the same observer state up to float summation order)
RTOL, ATOL = 1e-4, 1e-6
_COUNTER = re.compile(r"_?\d+$")  # FX's `_scale_0`, convert_pt2e's `_frozen_param0`


@dataclass
class Fact:
    """One node (or attribute) of a converted model: its text, its numbers."""

    text: str
    numbers: list = field(default_factory=list)  # (what it is, its value)
    name: str = ""  # the node's name in this model, for messages

    def close_to(self, other: "Fact") -> bool:
        if self.text != other.text or len(self.numbers) != len(other.numbers):
            return False
        return all(_close(a, b) for (_, a), (_, b) in zip(self.numbers, other.numbers))


def _close(a, b) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
        return a.shape == b.shape and bool(torch.allclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True))
    return a == b or abs(a - b) <= ATOL + RTOL * abs(b)


# -- converters ---------------------------------------------------------------------------


def converters(inputs) -> dict[str, Any]:
    """The converters a case's calibrated prepared model goes through (a pt2e case's:
    pt2e_converters): reference and lowered convert, convert told the prepare-time
    qconfig mapping (it then checks the mapping prepare stored and re-derives qconfigs
    from the node scopes), and the equalization reference where equalization is
    configured. Each gets a deep copy: the preserved attributes must survive
    copy.deepcopy, as a user's copy would. (`outcomes` also converts
    the model uncalibrated, as dynamic quantization is used: convert must run the weight
    observers itself.)"""
    if inputs.quantizer is not None:
        return pt2e_converters()
    from torch.ao.quantization.fx._equalize import _convert_equalization_ref
    from torch.ao.quantization.quantize_fx import convert_fx, convert_to_reference_fx

    config = convert_custom_config(inputs.prepare_custom_config)
    backend = inputs.backend_config
    out = {
        "convert_to_reference_fx": lambda m: convert_to_reference_fx(
            m, convert_custom_config=copy.deepcopy(config), backend_config=backend),
        "convert_fx": lambda m: convert_fx(m, convert_custom_config=copy.deepcopy(config), backend_config=backend),
    }
    out["convert_fx(qconfig_mapping)"] = lambda m: convert_fx(
        m, convert_custom_config=copy.deepcopy(config), backend_config=backend,
        qconfig_mapping=copy.deepcopy(inputs.qconfig_mapping))
    if inputs.equalization_config is not None:
        out["_convert_equalization_ref"] = _convert_equalization_ref
    return out


def pt2e_converters() -> dict[str, Any]:
    """convert_pt2e as a user calls it (the weights' quantize folded into constants) and
    with fold_quantize=False (the weights' quantize left as ops): each reads the observers'
    statistics, their classes' dtypes and qschemes, and the sharing prepare set up."""
    from models import pt2e_source

    convert_pt2e = pt2e_source.module("quantize_pt2e").convert_pt2e
    return {"convert_pt2e": lambda m: convert_pt2e(m),
            "convert_pt2e(fold_quantize=False)": lambda m: convert_pt2e(m, fold_quantize=False)}


def convert_custom_config(prepare_custom_config):
    """What a user passes convert for this prepare config: the same preserved attributes,
    and for each observed custom module class the quantized class torch knows for it."""
    from torch.ao.quantization.fx.custom_config import ConvertCustomConfig, PrepareCustomConfig
    from torch.ao.quantization.quant_type import QuantType
    from torch.ao.quantization.quantize import get_default_custom_config_dict

    pcc = prepare_custom_config or PrepareCustomConfig()
    if isinstance(pcc, dict):
        pcc = PrepareCustomConfig.from_dict(pcc)
    known = get_default_custom_config_dict()["observed_to_quantized_custom_module_class"]
    config = ConvertCustomConfig().set_preserved_attributes(list(pcc.preserved_attributes))
    for quant_type, mapping in pcc.float_to_observed_mapping.items():
        for observed in mapping.values():
            if observed in known:
                config.set_observed_to_quantized_mapping(observed, known[observed], quant_type or QuantType.STATIC)
    return config


def calibration_inputs(example_inputs: tuple) -> list[tuple]:
    """The example inputs, then one draw of the same shapes from a fixed seed: every
    preparation of a case sees the same numbers."""
    generator = torch.Generator().manual_seed(1234)

    def draw(x):
        if isinstance(x, torch.Tensor) and x.is_floating_point():
            return torch.randn(x.shape, generator=generator, dtype=x.dtype)
        return x

    return [example_inputs, tuple(draw(x) for x in example_inputs)]


def calibrate(model: GraphModule, batches: list[tuple], exported: bool = False) -> None:
    """Run the prepared model on each batch in eval mode (observers and fake quants
    observe; batch norm uses its running statistics, so a batch of one works), from a
    fixed random seed. An exported model has no eval mode of its own: its dropout and
    batch norm ops are swapped for their eval forms, as the pt2e flow does."""
    if exported:
        from models import pt2e_source

        pt2e_source.module("export_utils")._move_exported_model_to_eval(model)
    else:
        model.eval()
    torch.manual_seed(0)  # ops that draw random numbers (F.dropout's default training=True) draw the same
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for batch in batches:
            model(*copy.deepcopy(batch))


# -- description ----------------------------------------------------------------------------


def describe_converted(gm: torch.nn.Module, kept_names: set[str], preserved: list[str]) -> dict[str, list[Fact]]:
    """Facts of one converted model, by structural key (a key can hold several facts:
    two identical nodes on the same inputs)."""
    return _Describer(gm, kept_names).facts(preserved)


def describe_prepared_attributes(gm: torch.nn.Module, preserved: list[str]) -> dict[str, list[Fact]]:
    """The preserved attributes as the prepared model itself carries them."""
    return {f"attribute {name}": [_attribute_fact(gm, name)] for name in preserved}


def _attribute_fact(model, name: str) -> Fact:
    if not hasattr(model, name):
        return Fact("missing", name=f"attribute {name}")
    text, numbers = _value(getattr(model, name), name)
    return Fact(text, numbers, f"attribute {name}")


def _value(v: Any, label: str = "value") -> tuple[str, list]:
    """Text and numbers of a module's state entry or an attribute; each number is a pair
    (what it is, its value), so that a message can name the one that differs."""
    if isinstance(v, torch.Tensor):
        if v.is_quantized:
            if v.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
                qparams = [(f"{label} scale", v.q_scale()), (f"{label} zero_point", v.q_zero_point())]
            else:
                qparams = [(f"{label} scales", v.q_per_channel_scales()),
                           (f"{label} zero_points", v.q_per_channel_zero_points()),
                           (f"{label} axis", v.q_per_channel_axis())]
            return (f"quantized({describe.value(v.dtype)},{describe.value(v.qscheme())},{list(v.shape)})",
                    [*qparams, (f"{label} values", v.int_repr())])
        if v.device.type == "meta":
            return f"tensor({describe.value(v.dtype)},{list(v.shape)},meta)", []
        return f"tensor({describe.value(v.dtype)},{list(v.shape)})", [(label, v.detach())]
    if isinstance(v, float):
        return "float", [(label, v)]
    if isinstance(v, (tuple, list)):
        texts, numbers = [], []
        for i, x in enumerate(v):
            t, n = _value(x, f"{label}[{i}]")
            texts.append(t)
            numbers += n
        return "(" + ",".join(texts) + ")", numbers
    if isinstance(v, torch.ScriptObject) and hasattr(v, "__getstate__"):
        text, numbers = _value(v.__getstate__(), label)
        return f"{v._type().qualified_name()}{text}", numbers
    if isinstance(v, torch.nn.Module):
        return describe.qualname(type(v)), []
    return describe.value(v), []


class _Describer:
    def __init__(self, gm: torch.nn.Module, kept_names: set[str]):
        self.gm = gm
        self.kept = kept_names
        self.modules = dict(gm.named_modules())
        self.keys: dict[Node, str] = {}

    def target_name(self, target: str) -> str:
        """A target the float model has keeps its name; one convert made drops its counter."""
        return target if target in self.kept else _COUNTER.sub("_#", target)

    def render(self, arg: Any, numbers: list) -> str:
        if isinstance(arg, Node):
            if arg.op == "get_attr":
                name = self.target_name(str(arg.target))
                text, nums = _value(_fetch(self.gm, str(arg.target)), name)
                numbers += nums
                return f"{name}:{text}"
            return self.keys[arg]
        if isinstance(arg, float):
            numbers.append(("a constant", arg))
            return "float"
        if isinstance(arg, (tuple, list)):
            inner = ",".join(self.render(a, numbers) for a in arg)
            return f"({inner})" if isinstance(arg, tuple) else f"[{inner}]"
        if isinstance(arg, dict):
            return "{" + ",".join(f"{k}:{self.render(v, numbers)}" for k, v in arg.items()) + "}"
        return describe.value(arg)

    def facts(self, preserved: list[str]) -> dict[str, list[Fact]]:
        out: dict[str, list[Fact]] = {}
        for node in self.gm.graph.nodes:
            if node.op == "get_attr":
                continue  # rendered where it is used
            numbers: list = []
            args = ", ".join([self.render(a, numbers) for a in node.args]
                             + [f"{k}={self.render(v, numbers)}" for k, v in node.kwargs.items()])
            if node.op == "placeholder":
                key = f"input {node.target}"
            elif node.op == "output":
                key = "output"
            else:
                target = (self.target_name(str(node.target)) if node.op == "call_module"
                          else describe.qualname(node.target) if node.op == "call_function" else str(node.target))
                key = f"{node.op} {target}"
            structure = f"{key}({args})"
            self.keys[node] = "#" + hashlib.sha1(structure.encode()).hexdigest()[:10]
            text = structure
            if node.op == "call_module":
                module = self.modules[str(node.target)]
                state_text, state_numbers = _module_state(module)
                text += f" [{describe.qualname(type(module))}{state_text}]"
                numbers += state_numbers
            fact = Fact(text, numbers, node.name)
            out.setdefault(self.keys[node], []).append(fact)
        for name in preserved:
            out[f"attribute {name}"] = [_attribute_fact(self.gm, name)]
        return out


def _fetch(root, target: str):
    obj = root
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _module_state(module: torch.nn.Module) -> tuple[str, list]:
    """A module's own state as its state_dict holds it (quantized modules keep their scale,
    zero point and packed weight there) and, for reference modules, their weight qparams."""
    texts, numbers = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        state = module.state_dict()
    for key in sorted(state):
        text, nums = _value(state[key], key)
        texts.append(f"{key}={text}")
        numbers += nums
    return ("(" + ", ".join(texts) + ")") if texts else "", numbers


# -- comparison -----------------------------------------------------------------------------


def compare(expected: dict[str, list[Fact]], actual: dict[str, list[Fact]]) -> list[str]:
    """The differences of two converted models, a line each; the expected side is the oracle's."""
    out = []
    for key in expected:
        exp, act = expected[key], actual.get(key, [])
        if key.startswith("attribute "):
            if not exp[0].close_to(act[0]):
                out.append(f"{key}: {_shown(exp[0])} != {_shown(act[0])}")
            continue
        unmatched = list(act)
        for fact in exp:
            twin = next((a for a in unmatched if a.close_to(fact)), None)
            if twin is not None:
                unmatched.remove(twin)
                continue
            near = next((a for a in unmatched if a.text == fact.text), None)
            if near is not None:
                unmatched.remove(near)
                out.append(f"{fact.name}: {_numbers_differ(fact, near)}")
            else:
                out.append(f"{fact.name} is missing or differs ({_short(fact.text)})")
        for fact in unmatched:
            out.append(f"extra {fact.name} ({_short(fact.text)})")
    for key in actual:
        if key not in expected:
            for fact in actual[key]:
                out.append(f"extra {fact.name or key} ({_short(fact.text)})")
    return out


def _shown(fact: Fact) -> str:
    if not fact.numbers:
        return fact.text
    return f"{fact.text} {', '.join(_number(n) for _, n in fact.numbers)}"


def _number(n) -> str:
    if isinstance(n, torch.Tensor):
        if n.numel() == 1:
            return f"{n.item():.6g}"
        return f"tensor{list(n.shape)}"
    return f"{n:.6g}" if isinstance(n, float) else str(n)


def _numbers_differ(expected: Fact, actual: Fact) -> str:
    for (what, e), (_, a) in zip(expected.numbers, actual.numbers):
        if not _close(e, a):
            if isinstance(e, torch.Tensor) and e.numel() > 1:
                if e.shape != a.shape:
                    return f"{what} shape {list(e.shape)} != {list(a.shape)}"
                return f"{what} differs (max |difference| {float((e.double() - a.double()).abs().max()):.3g})"
            return f"{what} {_number(e)} != {_number(a)}"
    return "numbers differ"


def _short(text: str, limit: int = 160) -> str:
    text = re.sub(r"#[0-9a-f]{10}", "…", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- the check ------------------------------------------------------------------------------


@dataclass
class Refusal:
    """A converter (or the calibration) raised."""

    error: BaseException

    def __str__(self) -> str:
        from .runner import without_paths

        message = without_paths(str(self.error).strip().splitlines()[0] if str(self.error).strip() else "")
        return f"raises {type(self.error).__name__}" + (f": {message[:200]}" if message else "")


def outcomes(inputs, prepared: GraphModule) -> dict[str, Any]:
    """converter label -> the facts of its converted model (or its Refusal); first the
    preserved attributes on the prepared model itself. Calibrates `prepared`."""
    from torch.ao.quantization.fx.custom_config import PrepareCustomConfig

    pcc = inputs.prepare_custom_config
    if isinstance(pcc, dict):
        pcc = PrepareCustomConfig.from_dict(pcc)
    preserved = list(pcc.preserved_attributes) if pcc is not None else []
    out: dict[str, Any] = {"prepared model": describe_prepared_attributes(prepared, preserved)}
    chosen = converters(inputs)

    def convert(label, convert, model):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                quantized = convert(copy.deepcopy(model))
            out[label] = describe_converted(quantized, inputs.float_names, preserved)
        except Exception as exc:
            out[label] = Refusal(exc)

    uncalibrated = copy.deepcopy(prepared)
    try:
        calibrate(prepared, calibration_inputs(inputs.example_inputs), exported=inputs.quantizer is not None)
    except Exception as exc:
        out["calibration"] = Refusal(exc)
        return out
    for label, converter in chosen.items():
        convert(label, converter, prepared)
    first = next(iter(chosen))  # convert_to_reference_fx, convert_pt2e
    convert(f"{first}, uncalibrated", chosen[first], uncalibrated)
    return out


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> dict[str, list[str]]:
    """The IUT's converted models against the oracle's: converter label -> its difference
    lines (the expected side is the oracle's); only converters that differ."""
    if "calibration" in actual and "calibration" not in expected:
        return {"calibration": [f"runs != {actual['calibration']} (the IUT's prepared model on the example inputs)"]}
    out: dict[str, list[str]] = {}
    for label in expected:
        exp, act = expected[label], actual.get(label)
        if isinstance(exp, Refusal) or isinstance(act, Refusal):
            if isinstance(exp, Refusal) and isinstance(act, Refusal):
                if type(exp.error) is not type(act.error):
                    out[label] = [f"{exp} != {act}"]
            else:
                out[label] = [f"{'converts' if not isinstance(exp, Refusal) else exp} != "
                              f"{'converts' if not isinstance(act, Refusal) else act}"]
            continue
        lines = compare(exp, act)
        if lines:
            out[label] = lines
    return out


def summary(found: dict[str, list[str]]) -> tuple[str, str]:
    """(one line for the case, every line for `--tb`). One fault usually shows after every
    converter and on several nodes; the line names the first converter that differs, its
    first difference and how many more there are, as the plan's differ reports one fault once."""
    if not found:
        return "", ""
    first = next(iter(found))
    lines = found[first]
    more = sum(len(v) for v in found.values()) - 1
    also = [label for label in found if label != first]
    tail = []
    if more:
        tail.append(f"{more} more difference{'s' if more > 1 else ''}, --tb lists them")
    if also:
        tail.append(f"also after {', '.join(also)}")
    line = f"convert ({first}): {lines[0]}" + (f" ({'; '.join(tail)})" if tail else "")
    detail = "\n".join(f"convert ({label}): {entry}" for label, entries in found.items() for entry in entries)
    return line, detail
