"""The pattern zoo: for every BackendConfig torch ships, one small model per pattern,
generated from the config itself (a new torch release's new patterns appear by
themselves).

A pattern in the config's complex format, `(op, arg_pattern, ...)`, becomes a program:
the innermost ops read the graph input, each op reads its sub-patterns' values, and
`MatchAllNode` is the graph input. Module ops are instantiated (fused and QAT classes
from their parts), functions get the weights and constants they need as parameters
and literals, methods get plausible arguments. Models are traced, not run: shapes are
plausible, not checked. A pattern with an op the generator cannot spell is left out
with its reason (`obsconf list --excluded`).
"""

from __future__ import annotations

import functools
import operator
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .configs import backend_config
from .recipe import Recipe

BACKENDS = ("native", "fbgemm", "qnnpack", "x86", "onednn", "executorch", "tensorrt")


class Unsupported(Exception):
    """The generator cannot spell this op; the message says why."""


# -- names ------------------------------------------------------------------------------


@functools.cache
def _function_names() -> dict[int, str]:
    names = {}
    for prefix, namespace in (("operator.", operator), ("torch.", torch), ("F.", F)):
        for name, obj in vars(namespace).items():
            if callable(obj) and not name.startswith("__"):
                names.setdefault(id(obj), prefix + name)
    return names


MODULE_PREFIXES = (
    ("torch.ao.nn.intrinsic.qat", "nniqat."),
    ("torch.ao.nn.intrinsic", "nni."),
    ("torch.ao.nn.qat", "nnqat."),
    ("torch.nn", "nn."),
)


def op_name(op) -> str:
    """nn.Conv2d, nni.ConvReLU2d, F.relu, torch.add, operator.add, method.relu, any."""
    from torch.ao.quantization.utils import MatchAllNode

    if isinstance(op, str):
        return f"method.{op}"
    if isinstance(op, type):
        if issubclass(op, MatchAllNode):
            return "any"
        for module, prefix in MODULE_PREFIXES:
            if op.__module__.startswith(module):
                return prefix + op.__name__
        return f"{op.__module__}.{op.__qualname__}"
    return _function_names().get(id(op), getattr(op, "__qualname__", repr(op)))


def pattern_slug(pattern) -> str:
    """A pattern as a path-safe name, outermost op first: `nn.ReLU(nn.BatchNorm2d(nn.Conv2d))`."""
    if isinstance(pattern, tuple):
        head, *args = pattern
        return f"{op_name(head)}({','.join(pattern_slug(a) for a in args)})"
    return op_name(pattern)


# -- how to spell each op ---------------------------------------------------------------

C = 4  # channels / features everywhere, so chains fit

MODULE_ARGS = {
    **{f"Conv{d}d": (C, C, 1) for d in (1, 2, 3)},
    **{f"ConvTranspose{d}d": (C, C, 1) for d in (1, 2, 3)},
    **{f"BatchNorm{d}d": (C,) for d in (1, 2, 3)},
    **{f"InstanceNorm{d}d": (C,) for d in (1, 2, 3)},
    **{f"AdaptiveAvgPool{d}d": (1,) for d in (1, 2, 3)},
    **{f"{kind}Pool{d}d": (2,) for kind in ("Avg", "Max") for d in (1, 2, 3)},
    "Linear": (C, C), "LayerNorm": (C,), "GroupNorm": (2, C), "Embedding": (10, C), "EmbeddingBag": (10, C),
    "LSTM": (C, C), "GRU": (C, C), "RNN": (C, C), "LSTMCell": (C, C), "GRUCell": (C, C), "RNNCell": (C, C),
    "PixelShuffle": (2,), "PixelUnshuffle": (2,), "ConstantPad2d": (1, 0.0), "Softmax": (1,),
}
# Parts of fused modules, by the words in their class names.
FUSED_PART = {"Conv": "Conv{d}d", "Linear": "Linear", "Bn": "BatchNorm{d}d", "BN": "BatchNorm{d}d",
              "ReLU": "ReLU", "LeakyReLU": "LeakyReLU", "Tanh": "Tanh"}


def build_module(cls: type) -> nn.Module:
    """An instance of a module class: float modules from MODULE_ARGS, fused modules from
    their parts, QAT modules from their float module with a default QAT qconfig."""
    if cls.__module__.startswith(("torch.ao.nn.qat", "torch.ao.nn.intrinsic.qat")):
        from torch.ao.nn import intrinsic as nni
        from torch.ao.quantization import default_embedding_qat_qconfig, get_default_qat_qconfig

        float_module = build_module(getattr(cls, "_FLOAT_MODULE", None) or getattr(nni, cls.__name__))
        qconfig = default_embedding_qat_qconfig if "Embedding" in cls.__name__ else get_default_qat_qconfig("x86")
        for module in float_module.modules():
            module.qconfig = qconfig
        return cls.from_float(float_module)
    if cls.__module__.startswith("torch.ao.nn.intrinsic"):
        dim = (re.findall(r"([123])d$", cls.__name__) or ["1" if "Linear" in cls.__name__ else "2"])[0]
        parts = []
        for word in re.findall(r"LeakyReLU|ReLU|Conv|Linear|Bn|BN|Tanh|Add", cls.__name__):
            if word == "Add":
                parts.append(torch.add)
            else:
                parts.append(build_module(getattr(nn, FUSED_PART[word].format(d=dim))))
        return cls(*parts)
    return cls(*MODULE_ARGS.get(cls.__name__, ()))


def _weight(*shape):
    return ("param", shape)


# function -> extra arguments after its tensor input(s): ("param", shape) becomes a
# get_attr of a new parameter; anything else is a literal.
FUNCTION_ARGS = {
    "F.conv1d": (_weight(C, C, 1), _weight(C)), "F.conv2d": (_weight(C, C, 1, 1), _weight(C)),
    "F.conv3d": (_weight(C, C, 1, 1, 1), _weight(C)),
    "torch.conv1d": (_weight(C, C, 1), _weight(C)), "torch.conv2d": (_weight(C, C, 1, 1), _weight(C)),
    "torch.conv3d": (_weight(C, C, 1, 1, 1), _weight(C)),
    "torch.conv_transpose1d": (_weight(C, C, 1), _weight(C)), "torch.conv_transpose2d": (_weight(C, C, 1, 1), _weight(C)),
    "torch.conv_transpose3d": (_weight(C, C, 1, 1, 1), _weight(C)),
    "F.conv_transpose1d": (_weight(C, C, 1), _weight(C)), "F.conv_transpose2d": (_weight(C, C, 1, 1), _weight(C)),
    "F.conv_transpose3d": (_weight(C, C, 1, 1, 1), _weight(C)),
    "F.linear": (_weight(C, C), _weight(C)), "F.embedding": (_weight(10, C),),
    "F.layer_norm": ((C,), _weight(C), _weight(C)), "F.group_norm": (2, _weight(C), _weight(C)),
    "F.instance_norm": (None, None, _weight(C), _weight(C)),
    "F.interpolate": (None, 2.0), "F.pad": ((1, 1),), "torch.narrow": (1, 0, 2),
    "torch.permute": ((0, 2, 3, 1),), "torch.permute_copy": ((0, 2, 3, 1),), "torch.transpose": (1, 2),
    "torch.unsqueeze": (0,), "torch.flatten": (1,), "torch.mean": (1,), "torch.clamp": (-1.0, 1.0),
    "torch.repeat_interleave": (2,), "F.adaptive_avg_pool2d": (1,), "F.adaptive_avg_pool3d": (1,),
    "torch.adaptive_avg_pool1d": (1,), "F.avg_pool2d": (2,), "F.avg_pool3d": (2,), "torch.avg_pool1d": (2,),
    "F.max_pool1d": (2,), "F.max_pool2d": (2,), "F.max_pool3d": (2,), "torch.pixel_shuffle": (2,),
    "torch.pixel_unshuffle": (2,),
}
# functions of two tensors: the second is the graph input
BINARY = {"torch.add", "torch.sub", "torch.mul", "torch.matmul", "operator.add", "operator.sub", "operator.mul",
          "operator.floordiv", "operator.truediv", "torch.div"}
# functions of a list of tensors
LISTS = {"torch.cat", "torch.concat", "torch.concatenate", "torch.stack"}
METHOD_ARGS = {
    "clamp": (-1.0, 1.0), "mean": (1,), "permute": (0, 2, 3, 1), "repeat": (1, 2, 1, 1), "repeat_interleave": (2,),
    "reshape": (1, -1), "resize_": ((1, C, 2, 2),), "transpose": (1, 2), "unsqueeze": (0,), "unsqueeze_": (0,),
    "view": (1, -1), "size": (1,),
}
NOT_A_METHOD = {"shape": "`shape` is an attribute: tracing records getattr, never a call_method node"}


@dataclass(frozen=True)
class Step:
    kind: str  # module, function, method
    target: object  # module class, function, method name
    args: tuple  # ("value", i) | ("param", shape) | ("list", (...)) | literal


def compile_pattern(pattern) -> tuple[Step, ...]:
    """The program that produces `pattern`, innermost ops first; value 0 is the graph input."""
    from torch.ao.quantization.utils import MatchAllNode

    steps: list[Step] = []

    def emit(p) -> int:
        if isinstance(p, type) and issubclass(p, MatchAllNode):
            return 0
        head, subs = (p[0], p[1:]) if isinstance(p, tuple) else (p, ())
        if head is getattr:
            raise Unsupported("getattr patterns are not generated")
        inputs = [emit(s) for s in subs] or [0]
        steps.append(spell(head, inputs))
        return len(steps)

    emit(pattern)
    return tuple(steps)


def spell(op, inputs: list[int]) -> Step:
    values = tuple(("value", i) for i in inputs)
    if isinstance(op, str):
        if op in NOT_A_METHOD:
            raise Unsupported(NOT_A_METHOD[op])
        return Step("method", op, values + METHOD_ARGS.get(op, ()))
    if isinstance(op, type):
        if not issubclass(op, nn.Module):
            raise Unsupported(f"{op_name(op)} is not a module")
        return Step("module", op, values)
    name = op_name(op)
    if name in BINARY:
        return Step("function", op, values if len(values) > 1 else values + (("value", 0),))
    if name in LISTS:
        return Step("function", op, (("list", values + (("value", 0),)), 1))
    if name == "torch.addmm":
        return Step("function", op, (("param", (C,)),) + values + (("param", (C, C)),))
    return Step("function", op, values + FUNCTION_ARGS.get(name, ()))


class PatternModel(nn.Module):
    """Runs a compiled pattern program; tracing unrolls it into exactly those ops."""

    def __init__(self, steps: tuple[Step, ...]):
        super().__init__()
        self.steps = []
        for i, step in enumerate(steps):
            target = step.target
            if step.kind == "module":
                self.add_module(f"op{i}", build_module(step.target))
                target = f"op{i}"
            args = tuple(self._materialise(a, f"p{i}_{j}") for j, a in enumerate(step.args))
            self.steps.append((step.kind, target, args))

    def _materialise(self, arg, name):
        if isinstance(arg, tuple) and arg and arg[0] == "param":
            self.register_parameter(name, nn.Parameter(torch.randn(*arg[1])))
            return ("attr", name)
        if isinstance(arg, tuple) and arg and arg[0] == "list":
            return ("list", tuple(self._materialise(a, f"{name}_{k}") for k, a in enumerate(arg[1])))
        return arg

    def _resolve(self, arg, values):
        if isinstance(arg, tuple) and arg and arg[0] == "value":
            return values[arg[1]]
        if isinstance(arg, tuple) and arg and arg[0] == "attr":
            return getattr(self, arg[1])
        if isinstance(arg, tuple) and arg and arg[0] == "list":
            return [self._resolve(a, values) for a in arg[1]]
        return arg

    def forward(self, x):
        values = [x]
        for kind, target, args in self.steps:
            resolved = [self._resolve(a, values) for a in args]
            if kind == "module":
                values.append(getattr(self, target)(*resolved))
            elif kind == "method":
                values.append(getattr(resolved[0], target)(*resolved[1:]))
            else:
                values.append(target(*resolved))
        return values[-1]


def example_input(pattern_text: str) -> tuple:
    """A plausible input: integers for embeddings, rank from the ops' dimensionality."""
    if "mbedding" in pattern_text:
        return (torch.randint(0, 10, (2, C)),)
    if re.search(r"1d|Linear|linear|LSTM|GRU|RNN|addmm|matmul", pattern_text):
        return (torch.randn(2, C, C) if "1d" in pattern_text else torch.randn(2, C),)
    if "3d" in pattern_text:
        return (torch.randn(1, C, 2, 2, 2),)
    return (torch.randn(1, C, 4, 4),)


# -- the recipes --------------------------------------------------------------------------

PRESETS = {
    "native": ("native-static", "native-qat"),
    "fbgemm": ("fbgemm-static", "fbgemm-qat"),
    "qnnpack": ("qnnpack-static", "qnnpack-qat"),
    "x86": ("x86-static", "x86-qat"),
    "onednn": ("onednn-static", "onednn-qat"),
    "executorch": ("executorch-static", "executorch-qat"),
    "tensorrt": ("tensorrt-static",),
}

EXCLUDED: list[tuple[str, str]] = []

# (backend, pattern name, preset) cases the oracle itself rejects (torch 2.14.1), with why: the
# negative cases of the zoo (their goldens record the refusal; the reason documents it).
ORACLE_REJECTS = (
    # nnqat.Embedding(Bag) is built with its own float_qparams qconfig, which prepare keeps
    (lambda b, s, p: "Embedding" in s and not s.startswith("nnqat.") and p.endswith("-qat"),
     "the default QAT mappings give embeddings a per-channel symmetric weight fake-quant and prepare_qat_fx asserts "
     "float_qparams (AssertionError: Embedding weights requires a qscheme of torch.per_channel_affine_float_qparams)"),
    (lambda b, s, p: "ConvTranspose" in s and "BatchNorm" in s and p.endswith("-qat"),
     "the fuser raises 'Fusing ConvTranspose+BatchNorm not yet supported in QAT.'"),
    (lambda b, s, p: p == "onednn-static" and "nn.ConvTranspose" in s,
     "onednn's default mapping gives ConvTranspose a per-channel weight observer and prepare asserts "
     "'Per channel weight observer is not supported yet for ConvTranspose{n}d.'"),
    (lambda b, s, p: p == "onednn-qat" and "BatchNorm" in s and ("add" in s or "LeakyReLU" in s),
     "fusing conv/linear + batchnorm with add or leaky_relu in train mode raises 'Cannot fuse train modules'"),
    (lambda b, s, p: b == "onednn" and s in ("F.leaky_relu(nn.Linear)", "torch.tanh(nn.Linear)"),
     "onednn fuses linear with a functional activation, but its fuser method takes modules only "
     "(AssertionError: Incorrect types for input modules)"),
    (lambda b, s, p: b == "onednn" and s in ("nn.Tanh(nn.Linear)", "nni.LinearTanh"),
     "onednn's default mapping gives Linear and Tanh (fixed qparams) different qconfigs and fusion requires one "
     "(LookupError: During fusion, we need to specify the same qconfigs)"),
)


def oracle_rejects(backend: str, slug: str, preset: str) -> str | None:
    return next((reason for rule, reason in ORACLE_REJECTS if rule(backend, slug, preset)), None)


def _recipes() -> list[Recipe]:
    recipes = []
    for backend in BACKENDS:
        seen = set()
        for pattern in backend_config(backend)._pattern_complex_format_to_config:
            slug = pattern_slug(pattern)
            name = f"{backend}/{slug}"
            if slug in seen:
                EXCLUDED.append((f"zoo/{name}", "another pattern of this backend has the same name"))
                continue
            seen.add(slug)
            try:
                steps = compile_pattern(pattern)
            except Unsupported as exc:
                EXCLUDED.append((f"zoo/{name}", str(exc)))
                continue
            # a preset the oracle refuses the pattern under is a negative case (tag `rejects`)
            rejects = tuple(p for p in PRESETS[backend] if oracle_rejects(backend, slug, p))
            recipes.append(
                Recipe("zoo", name, functools.partial(PatternModel, steps), functools.partial(example_input, slug),
                       tags=("zoo", backend, "fused" if isinstance(pattern, tuple) else "single-op"),
                       presets=PRESETS[backend], rejects=rejects)
            )
    return recipes


RECIPES = _recipes()


def excluded() -> list[tuple[str, str]]:
    """(recipe or case, reason) for every BackendConfig pattern (or pattern x preset) the zoo leaves out."""
    return sorted(EXCLUDED)
