"""Deterministic one-line descriptions of observers, qconfigs and argument values.

Everything written into a plan passes through here, so this module decides what
"the attributes that decide numerics" are (DESIGN.md, plan point 2) and makes sure
no memory address, ordering accident or float formatting quirk reaches a golden.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import sys
import re
from typing import Any, Callable

import torch

# Attributes recorded for every observer / fake-quantize module that has them, in
# this order. Each one changes the numerics of the converted model.
NUMERIC_ATTRS = (
    "dtype",
    "qscheme",
    "quant_min",
    "quant_max",
    "ch_axis",
    "reduce_range",
    "is_dynamic",
    "eps",
    "scale",
    "zero_point",
    "averaging_constant",
    "bins",
    # torchao's affine observers (AffineQuantizedObserverBase) spell their numerics so
    "mapping_type",
    "target_dtype",
    "granularity",
    "scale_dtype",
    "zero_point_dtype",
    "preserve_zero",
    "zero_point_domain",
)

# Sub-modules that hold the observer a wrapper delegates to (fake-quantize,
# equalization observers); they are described recursively.
NESTED_OBSERVERS = ("activation_post_process", "input_obs", "weight_col_obs")
_ABSENT = object()

# Tensors on the meta device carry no values: prepare of a meta model moves every
# observer there, so buffers such as eps read as this marker.
META_VALUE = "meta"


def qualname(obj: Any) -> str:
    """`module.QualName` of a class or function, stable across runs."""
    if isinstance(obj, (torch._ops.OpOverload, torch._ops.OpOverloadPacket)):
        return f"torch.ops.{obj}"  # torch.ops.aten.conv2d.default, as exported graphs call it
    module = getattr(obj, "__module__", None) or ""
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__name__
    # torch.cat is torch._VariableFunctionsClass.cat, operator.add is _operator.add:
    # spell them as users write them.
    if name.startswith("_VariableFunctionsClass."):
        module, name = "torch", name.split(".", 1)[1]
    if module == "_operator":
        module = "operator"
    return f"{module}.{name}" if module else name


def short_class_name(obj: Any) -> str:
    return qualname(obj).rsplit(".", 1)[-1]


def value(v: Any) -> str:
    """A canonical text for a constant: an attribute or a non-Node graph argument."""
    if v is None or isinstance(v, bool):
        return repr(v)
    if isinstance(v, torch.dtype):
        return str(v).removeprefix("torch.")
    if isinstance(v, torch.qscheme):
        return str(v).removeprefix("torch.")
    if isinstance(v, int):
        return repr(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return repr(v)
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, torch.Tensor):
        return tensor_value(v)
    if isinstance(v, (torch.device, torch.memory_format, torch.layout)):
        return str(v)
    if isinstance(v, slice):
        return f"slice({value(v.start)},{value(v.stop)},{value(v.step)})"
    if isinstance(v, tuple):
        return "(" + ",".join(value(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, list):
        return "[" + ",".join(value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{value(k)}:{value(x)}" for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))) + "}"
    if isinstance(v, type) or callable(v):
        return qualname(v)
    if v is Ellipsis:
        return "..."
    if isinstance(v, enum.Enum):
        return f"{type(v).__name__}.{v.name}"
    if dataclasses.is_dataclass(v):  # a granularity such as PerAxis(axis=0)
        return f"{type(v).__name__}({', '.join(f'{f.name}={value(getattr(v, f.name))}' for f in dataclasses.fields(v))})"
    # Unknown objects: their type only; a repr could carry an address.
    return f"<{qualname(type(v))}>"


def tensor_value(t: torch.Tensor) -> str:
    if t.device.type == "meta":
        return META_VALUE
    flat = t.detach().reshape(-1).tolist()
    if len(flat) == 1:
        return value(flat[0])
    if len(flat) <= 8:
        return "[" + ",".join(value(x) for x in flat) + "]"
    return f"tensor(shape={list(t.shape)},dtype={value(t.dtype)})"


def is_equalization_observer(module: Any) -> bool:
    from torch.ao.quantization.fx._equalize import (
        _InputEqualizationObserver,
        _WeightEqualizationObserver,
    )

    return isinstance(module, (_InputEqualizationObserver, _WeightEqualizationObserver))


def is_observer(module: Any) -> bool:
    """True for modules that prepare inserts to observe or fake-quantize a value: torch.ao's
    observers and fake-quantizes, equalization observers, and torchao's (prepare_pt2e's)."""
    from torch.ao.quantization import FakeQuantizeBase, ObserverBase

    return (isinstance(module, (ObserverBase, FakeQuantizeBase)) or is_equalization_observer(module)
            or isinstance(module, _torchao_observer_classes()))


_TORCHAO_OBSERVERS: tuple[type, ...] | None = None


def _torchao_observer_classes() -> tuple[type, ...]:
    """torchao's observer base classes, once a PT2E case has loaded torchao (a prepared
    model holding its observers implies it has); none before, so FX runs never import it.
    Looked up once: is_observer asks for every node of every plan."""
    global _TORCHAO_OBSERVERS
    if _TORCHAO_OBSERVERS is None:
        if "torchao.quantization.pt2e" not in sys.modules:
            return ()
        import torchao.quantization.pt2e as pt2e
        from torchao.quantization.pt2e.observer import AffineQuantizedObserverBase

        _TORCHAO_OBSERVERS = (pt2e.ObserverBase, pt2e.FakeQuantizeBase, AffineQuantizedObserverBase)
    return _TORCHAO_OBSERVERS


def observer(module: torch.nn.Module) -> str:
    """`pkg.Class(attr=value, ...)` for an observer, fake-quantize or equalization observer."""
    parts = []
    for name in NUMERIC_ATTRS:
        attr = getattr(module, name, _ABSENT)  # one lookup: a buffer's goes through Module.__getattr__
        if attr is _ABSENT or isinstance(attr, torch.nn.Module) or (callable(attr) and not isinstance(attr, torch.Tensor)):
            continue
        parts.append(f"{name}={value(attr)}")
    for name in NESTED_OBSERVERS:
        inner = getattr(module, name, None)
        if isinstance(inner, torch.nn.Module):
            parts.append(f"{name}={observer(inner)}")
    return f"{qualname(type(module))}({', '.join(parts)})"


def constructor(ctr: Any) -> str:
    """Text for an observer constructor as qconfigs hold it (`Cls.with_args(...)`)."""
    from torch.ao.quantization.observer import _PartialWrapper

    if ctr is None:
        return "None"
    if isinstance(ctr, _PartialWrapper):
        text = constructor(ctr.p)
        # factory_kwargs is computed at construction only to place the observer on the
        # module's device (torch adds it to module qconfigs): not a placement decision.
        callable_args = {k: f for k, f in (getattr(ctr, "callable_args", None) or {}).items() if k != "factory_kwargs"}
        if callable_args:
            # Arguments computed at construction time: record which function computes them.
            extra = [f"{k}=<{qualname(f)}>" for k, f in sorted(callable_args.items())]
            name, _, rest = text[:-1].partition("(")
            text = f"{name}({', '.join(([rest] if rest else []) + extra)})"
        return text
    if isinstance(ctr, functools.partial):
        # with_args chains nest partials: flatten them, outer keywords win.
        kwargs = dict(ctr.keywords)
        func = ctr.func
        while isinstance(func, functools.partial):
            kwargs = {**func.keywords, **kwargs}
            func = func.func
        args = [value(a) for a in ctr.args]
        args += [f"{k}={constructor(v) if _is_ctr(v) else value(v)}" for k, v in sorted(kwargs.items())]
        return f"{qualname(func)}({', '.join(args)})"
    if isinstance(ctr, type):
        return qualname(ctr) + "()"
    return value(ctr)


def _is_ctr(v: Any) -> bool:
    from torch.ao.quantization.observer import _PartialWrapper

    return isinstance(v, (_PartialWrapper, functools.partial)) or (
        isinstance(v, type) and issubclass(v, torch.nn.Module)
    )


def qconfig_describer() -> Callable[[Any], str]:
    """`qconfig`, remembering each object's text: many nodes, modules and mapping entries
    hold one qconfig object. Keyed by id, so use it only while those objects are alive
    (one plan, one mapping)."""
    described: dict[int, str] = {}

    def text(qc: Any) -> str:
        if id(qc) not in described:
            described[id(qc)] = qconfig(qc)
        return described[id(qc)]

    return text


def qconfig(qc: Any) -> str:
    """`QConfig(activation=..., weight=...)`, or None; works for QConfig, QConfigDynamic,
    EqualizationQConfig and any other namedtuple of constructors."""
    if qc is None:
        return "None"
    fields = getattr(qc, "_fields", None)
    if fields is None:
        return constructor(qc)
    inner = ", ".join(f"{f}={constructor(getattr(qc, f))}" for f in fields)
    return f"{type(qc).__name__}({inner})"


# ---------------------------------------------------------------------------
# Parsing `Name(k=v, k=Name(...))` back, for attribute-level diffs.

def parse_call(text: str) -> tuple[str, dict[str, str]]:
    """Split `Name(k=v, ...)` into (Name, {k: v}) with nested calls kept as text."""
    open_at = text.find("(")
    if open_at < 0 or not text.endswith(")"):
        return text, {}
    name, body = text[:open_at], text[open_at + 1 : -1]
    attrs: dict[str, str] = {}
    depth, start = 0, 0
    pieces = []
    for i, ch in enumerate(body):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            pieces.append(body[start:i])
            start = i + 1
    pieces.append(body[start:])
    for n, piece in enumerate(p.strip() for p in pieces):
        if not piece:
            continue
        key, eq, val = piece.partition("=")
        if eq and re.fullmatch(r"[A-Za-z_]\w*", key.strip()):
            attrs[key.strip()] = val.strip()
        else:
            attrs[f"#{n}"] = piece
    return name, attrs


def attribute_differences(expected: str, actual: str, prefix: str = "") -> list[str]:
    """`dtype quint8 != qint8` style differences between two descriptions."""
    exp_name, exp_attrs = parse_call(expected)
    act_name, act_attrs = parse_call(actual)
    if exp_name != act_name:
        return [f"{prefix}class {short_or_full(exp_name, act_name)}"]
    out = []
    for key in list(exp_attrs) + [k for k in act_attrs if k not in exp_attrs]:
        e, a = exp_attrs.get(key, "<absent>"), act_attrs.get(key, "<absent>")
        if e == a:
            continue
        if "(" in e and "(" in a:
            out.extend(attribute_differences(e, a, prefix=f"{prefix}{key}."))
        else:
            out.append(f"{prefix}{key} {e} != {a}")
    return out


def short_or_full(expected: str, actual: str) -> str:
    """Two class names, shortened when their last component already tells them apart."""
    es, as_ = expected.rsplit(".", 1)[-1], actual.rsplit(".", 1)[-1]
    if es != as_:
        return f"{es} != {as_}"
    return f"{expected} != {actual}"


def _mapping_entries(mapping: Any) -> dict[str, str]:
    """`kind key` -> qconfig text of every entry of a qconfig mapping (or its dict form)."""
    from torch.ao.quantization.qconfig_mapping import QConfigMapping

    if isinstance(mapping, dict):
        mapping = QConfigMapping.from_dict(mapping)
    text = qconfig_describer()
    entries = {"global": text(mapping.global_qconfig)}
    # value(), not qualname(): object types may be strings ("sigmoid"), which qualname names `str`
    entries.update({f"object_type {value(k)}": text(v) for k, v in mapping.object_type_qconfigs.items()})
    entries.update({f"module_name {k}": text(v) for k, v in mapping.module_name_qconfigs.items()})
    entries.update({f"module_name_regex {k}": text(v) for k, v in mapping.module_name_regex_qconfigs.items()})
    entries.update({f"module_name_object_type_order {value(k)}": text(v)
                    for k, v in mapping.module_name_object_type_order_qconfigs.items()})
    return entries


def mapping_changes(given: Any, stored: Any) -> str:
    """How the qconfig mapping prepare stored differs from the one it was given: `as given`,
    then each entry added (`+`), removed (`-`) or changed (`~`) with its qconfig; prepare
    adds the fused and QAT module types."""
    if stored is None:
        return "None"
    before, after = _mapping_entries(given), _mapping_entries(stored)
    changes = [f"+{k} = {after[k]}" for k in sorted(set(after) - set(before))]
    changes += [f"-{k}" for k in sorted(set(before) - set(after))]
    changes += [f"~{k} = {after[k]}" for k in sorted(set(before) & set(after)) if before[k] != after[k]]
    return "as given" + "".join(f"; {c}" for c in changes)


def qconfig_mapping_digest(mapping: Any) -> str:
    """A short digest of the qconfig mapping prepare stored, with its entry counts: convert
    compares it with a mapping it is given (and refuses when they disagree). Used when the
    mapping prepare was given is not known (else `mapping_changes`)."""
    import hashlib

    if mapping is None:
        return "None"
    entries = _mapping_entries(mapping)
    text = repr(sorted(entries.items()))
    # "module_name " cannot match "module_name_regex ...": the prefixes end at the space
    kinds = {"object types": "object_type ", "names": "module_name ", "regexes": "module_name_regex ",
             "orders": "module_name_object_type_order "}
    counts = ", ".join(f"{sum(k.startswith(prefix) for k in entries)} {name}" for name, prefix in kinds.items())
    return f"sha256:{hashlib.sha256(text.encode()).hexdigest()[:16]} (global {'None' if entries['global'] == 'None' else 'set'}, {counts})"


# -- refusals ------------------------------------------------------------------------------

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+|0x[0-9a-fA-F]{6,}")
_PATH = re.compile(r"(?<![\w.])/(?:[\w.+-]+/)+([\w.+-]+)")
MAX_MESSAGE = 300


def exception_class(exc: BaseException) -> str:
    """The class of a refusal as a user reads it: `AssertionError` for a builtin,
    `module.QualName` otherwise."""
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else qualname(cls)


_ANGLED = re.compile(r"<[^<>]*>")
_CLASS_CALL = re.compile(r"\b[A-Z]\w*\(")


def _without_object_reprs(text: str) -> str:
    """`<...>` for each `<class 'x.Y'>` / `<built-in ...>`, `Name(...)` for each module or
    config repr such as `BatchNorm2d(4, eps=1e-05, ...)`: their spelling changes between
    releases (a new constructor argument, a moved class) while the refusal does not."""
    reduced = _ANGLED.sub("\0", text)  # innermost spans first; "\0" holds no angle bracket
    while reduced != text:
        text, reduced = reduced, _ANGLED.sub("\0", reduced)
    text = text.replace("\0", "<...>")
    out, i = [], 0
    for match in _CLASS_CALL.finditer(text):
        if match.start() < i:
            continue  # inside a repr already elided
        depth, j = 0, match.end() - 1
        while j < len(text):
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            if depth == 0:
                break
            j += 1
        if j == len(text):
            break  # unbalanced (a cut repr): leave the rest as it is
        out.append(text[i:match.end()] + "...)")
        i = j + 1
    return "".join(out) + text[i:]


def exception_message(exc: BaseException) -> str:
    """The stable part of a refusal's message: its first non-empty line, without memory
    addresses, folders of file paths or object reprs (`<...>`, `BatchNorm2d(...)`), cut at
    MAX_MESSAGE characters; a RecursionError's without where the stack ran out."""
    if isinstance(exc, RecursionError):
        # where the stack runs out (" in comparison", " while calling a Python object") depends
        # on the Python release and the depth prepare was called at, not on the refusal
        return "maximum recursion depth exceeded"
    text = str(exc) if not isinstance(exc, KeyError) or not exc.args else str(exc.args[0])
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = _without_object_reprs(_PATH.sub(r"\1", _ADDRESS.sub("", line)))
    return line if len(line) <= MAX_MESSAGE else line[:MAX_MESSAGE].rstrip() + "..."
