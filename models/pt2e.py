"""The pt2e family: prepare_pt2e's path. Each case exports a float model with torch.export
and prepares it under a Quantizer (the quantizer annotates, prepare places observers
from the annotations).

Three kinds of recipe:
- `ops/<pattern>`: one small model per operator pattern a quantizer annotates, taken
  from the quantizers' own tables (XNNPACKQuantizer's annotators, X86InductorQuantizer's
  quantizable aten ops and its fusion patterns), under every quantizer preset: what one
  quantizer annotates another leaves alone, and that is a plan too.
- `vision/<model>`: torchvision models (weights=None) under the XNNPACK and x86 presets.
- `annotations/<kind>`: hand-written annotations (models/pt2e_annotations.py) for every
  quantization-spec kind and sharing shape, and the refusals prepare_pt2e makes.

At the default pins the oracle is torchao's prepare_pt2e (torch 2.11 removed torch.ao's);
under torch 2.1 ... 2.10 without torchao the cases run on torch's own (models/pt2e_source.py).
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from . import zoo
from .recipe import ConfigPreset, Recipe, SkipCase

FAMILY = "pt2e"


def _source():
    """This environment's PT2E source (models/pt2e_source.py), or SkipCase where it has none."""
    from . import pt2e_source

    pt2e_source.source()
    return pt2e_source


def _xnnpack(**config):
    import warnings

    xnnpack = _source().module("xnnpack")
    with warnings.catch_warnings():  # "XNNPACKQuantizer is deprecated!" (for executorch's)
        warnings.simplefilter("ignore")
        return xnnpack.XNNPACKQuantizer().set_global(xnnpack.get_symmetric_quantization_config(**config))


def _x86(**config):
    import inspect

    source = _source()
    x86 = source.module("x86")
    get_config = x86.get_default_x86_inductor_quantization_config
    # torch 2.2's X86InductorQuantizer config has no is_dynamic (pytorch/pytorch#115337,
    # torch 2.3), 2.1's no is_qat either: no such preset there, as a dtype a release lacks
    missing = sorted(set(config) - set(inspect.signature(get_config).parameters))
    if missing:
        raise SkipCase(f"{source.version()}'s X86InductorQuantizer config takes no {', '.join(missing)}")
    return x86.X86InductorQuantizer().set_global(get_config(**config))


def _embedding():
    return _source().module("embedding").EmbeddingQuantizer()


def _composable():
    """Embeddings weight-only, everything else dynamic, as torchao's docs compose them."""
    return _source().module("composable").ComposableQuantizer(
        [_embedding(), _xnnpack(is_per_channel=True, is_dynamic=True)])


def _preset(name: str, quantizer, is_qat: bool = False, *tags: str) -> ConfigPreset:
    return ConfigPreset(name, is_qat=is_qat, quantizer=quantizer,
                        tags=(FAMILY, "qat" if is_qat else "ptq", *tags))


PRESETS = {p.name: p for p in (
    _preset("xnnpack-static", functools.partial(_xnnpack), False, "xnnpack", "static"),
    _preset("xnnpack-per-channel", functools.partial(_xnnpack, is_per_channel=True), False, "xnnpack", "static"),
    _preset("xnnpack-dynamic", functools.partial(_xnnpack, is_per_channel=True, is_dynamic=True), False,
            "xnnpack", "dynamic"),
    _preset("xnnpack-qat", functools.partial(_xnnpack, is_per_channel=True, is_qat=True), True, "xnnpack"),
    _preset("x86-inductor-static", functools.partial(_x86), False, "x86-inductor", "static"),
    _preset("x86-inductor-qat", functools.partial(_x86, is_qat=True), True, "x86-inductor"),
    _preset("x86-inductor-dynamic", functools.partial(_x86, is_dynamic=True), False, "x86-inductor", "dynamic"),
    _preset("embedding", _embedding, False, "embedding"),
    _preset("composable", _composable, False, "composable"),
)}
MAIN = tuple(n for n in PRESETS if n not in ("embedding", "composable"))
EMBEDDING = ("embedding", "composable", "xnnpack-dynamic", "xnnpack-static")

# -- operator patterns, from the quantizers' tables ----------------------------------------

# XNNPACKQuantizer's annotators (OP_TO_ANNOTATOR) -> a zoo pattern (outermost op first) that
# each matches; tests/test_pt2e.py keeps this in step with the table.
XNNPACK_PATTERNS = {
    "linear": nn.Linear,
    "linear_relu": (nn.ReLU, nn.Linear),
    "conv": nn.Conv2d,
    "conv_relu": (nn.ReLU, nn.Conv2d),
    "conv_transpose_relu": (nn.ReLU, nn.ConvTranspose2d),
    "conv_bn": (nn.BatchNorm2d, nn.Conv2d),
    "conv_bn_relu": (nn.ReLU, (nn.BatchNorm2d, nn.Conv2d)),
    "conv_transpose_bn": (nn.BatchNorm2d, nn.ConvTranspose2d),
    "conv_transpose_bn_relu": (nn.ReLU, (nn.BatchNorm2d, nn.ConvTranspose2d)),
    "gru_io_only": nn.GRU,
    "adaptive_avg_pool2d": nn.AdaptiveAvgPool2d,
    "add_relu": (nn.ReLU, (torch.add, nn.Conv2d)),
    "add": (torch.add, nn.Conv2d),
    "mul_relu": (nn.ReLU, (torch.mul, nn.Conv2d)),
    "mul": (torch.mul, nn.Conv2d),
    "cat": (torch.cat, nn.Conv2d),
}
# X86InductorQuantizer's quantizable aten ops (quantizable_ops, default_quantizable_ops,
# propagation_quantizable_ops) -> a pattern that exports to it after a conv (so there is
# an int8 producer to propagate from).
X86_OP_PATTERNS = {
    "aten.conv1d.default": nn.Conv1d,
    "aten.conv2d.default": nn.Conv2d,
    "aten.linear.default": nn.Linear,
    "aten.matmul.default": (torch.matmul, nn.Conv2d),
    "aten.mul.Tensor": (torch.mul, nn.Conv2d),
    "aten.max_pool2d.default": (nn.MaxPool2d, nn.Conv2d),
    "aten.avg_pool2d.default": (nn.AvgPool2d, nn.Conv2d),
    "aten.adaptive_avg_pool2d.default": (nn.AdaptiveAvgPool2d, nn.Conv2d),
    "aten.cat.default": (torch.cat, nn.Conv2d),
    "aten.flatten.using_ints": (torch.flatten, nn.Conv2d),
}
# X86InductorQuantizer's fusion patterns (its _annotate_conv2d_*/_annotate_linear_* rules):
# a conv or linear with the unary and binary ops it fuses.
X86_FUSION_PATTERNS = {
    "conv2d_bn": (nn.BatchNorm2d, nn.Conv2d),
    "conv2d_bn_relu": (nn.ReLU, (nn.BatchNorm2d, nn.Conv2d)),
    "conv2d_relu": (nn.ReLU, nn.Conv2d),
    "conv2d_relu6": (nn.ReLU6, nn.Conv2d),
    "conv2d_hardtanh": (nn.Hardtanh, nn.Conv2d),
    "conv2d_hardswish": (nn.Hardswish, nn.Conv2d),
    "conv2d_silu": (nn.SiLU, nn.Conv2d),
    "conv2d_add": (torch.add, nn.Conv2d),
    "conv2d_add_relu": (nn.ReLU, (torch.add, nn.Conv2d)),
    "conv2d_bn_add_relu": (nn.ReLU, (torch.add, (nn.BatchNorm2d, nn.Conv2d))),
    "linear_relu": (nn.ReLU, nn.Linear),
    "linear_gelu": (nn.GELU, nn.Linear),
    "linear_add": (torch.add, nn.Linear),
    "linear_add_relu": (nn.ReLU, (torch.add, nn.Linear)),
}
# Ops no quantizer here annotates, after an annotated conv: the graph around them is kept.
UNANNOTATED_PATTERNS = {
    "sigmoid": (torch.sigmoid, nn.Conv2d),
    "layer_norm": (nn.LayerNorm, nn.Linear),
    "softmax": (nn.Softmax, nn.Linear),
    "hardsigmoid": (nn.Hardsigmoid, nn.Conv2d),
}
EMBEDDING_PATTERNS = {
    "embedding": nn.Embedding,
    "embedding_linear": (nn.Linear, nn.Embedding),
}


# (pattern, preset) the oracle refuses, with why: negative cases
OPS_REJECTS = {
    **{("gru_io_only", p): "XNNPACKQuantizer's static GRU annotator indexes a partition export no longer makes "
                            "(IndexError: list index out of range)"
       for p in ("xnnpack-static", "xnnpack-per-channel", "xnnpack-qat")},
}


# patterns whose input the zoo's guess (by the ops' names) does not fit
INPUT_SHAPES = {"x86-matmul": (1, zoo.C, 4, 4)}


def _randn(shape) -> tuple:
    return (torch.randn(*shape),)


def _pattern_recipe(name: str, pattern, presets: tuple[str, ...], *tags: str) -> Recipe | None:
    slug = zoo.pattern_slug(pattern)
    try:
        steps = zoo.compile_pattern(pattern)
    except zoo.Unsupported as exc:
        EXCLUDED.append((f"{FAMILY}/ops/{name}", str(exc)))
        return None
    inputs = (functools.partial(_randn, INPUT_SHAPES[name]) if name in INPUT_SHAPES
              else functools.partial(zoo.example_input, slug))
    return Recipe(FAMILY, f"ops/{name}", functools.partial(zoo.PatternModel, steps), inputs, tags=(FAMILY, "ops", *tags),
                  presets=tuple(PRESETS[p] for p in presets),
                  rejects=tuple(p for p in presets if (name, p) in OPS_REJECTS))


def _op_recipes() -> list[Recipe]:
    tables = (
        [("xnnpack", n, p) for n, p in XNNPACK_PATTERNS.items()]
        + [("x86-inductor", f"x86-{n.split('.')[1]}", p) for n, p in X86_OP_PATTERNS.items()]
        + [("x86-inductor", f"x86-{n}", p) for n, p in X86_FUSION_PATTERNS.items()]
        + [("unannotated", n, p) for n, p in UNANNOTATED_PATTERNS.items()]
    )
    recipes, seen = [], set()
    for table, name, pattern in tables:
        if name in seen:
            continue
        seen.add(name)
        recipe = _pattern_recipe(name, pattern, MAIN, table)
        if recipe is not None:
            recipes.append(recipe)
    for name, pattern in EMBEDDING_PATTERNS.items():
        recipe = _pattern_recipe(name, pattern, EMBEDDING, "embedding")
        if recipe is not None:
            recipes.append(recipe)
    return recipes


# -- torchvision --------------------------------------------------------------------------

TORCHVISION = ("resnet18", "mobilenet_v3_small", "squeezenet1_1", "shufflenet_v2_x0_5")
# (model, preset) the oracle refuses, with why: negative cases
TORCHVISION_REJECTS = {
    ("resnet18", "x86-inductor-static"): "X86InductorQuantizer's conv-add-relu partition of a BasicBlock "
                                         "has two outputs (ValueError: Input partition has more than one output node)",
    ("resnet18", "x86-inductor-dynamic"): "as x86-inductor-static",
    ("resnet18", "x86-inductor-qat"): "as x86-inductor-static",
}


def _torchvision_model(name: str) -> nn.Module:
    import torchvision

    return getattr(torchvision.models, name)(weights=None)


def _image() -> tuple:
    return (torch.randn(1, 3, 224, 224),)


def _torchvision_recipes() -> list[Recipe]:
    return [Recipe(FAMILY, f"vision/{name}", functools.partial(_torchvision_model, name), _image,
                   tags=(FAMILY, "torchvision"), presets=tuple(PRESETS[p] for p in MAIN),
                   rejects=tuple(p for m, p in TORCHVISION_REJECTS if m == name))
            for name in TORCHVISION]


EXCLUDED: list[tuple[str, str]] = []


def _recipes() -> list[Recipe]:
    from . import hypothesis_graphs, pt2e_annotations

    # generated annotations frozen into the corpus (`obsconf fuzz --path pt2e --freeze N`)
    generated = hypothesis_graphs._recipes(hypothesis_graphs.PT2E_DIR)
    return _op_recipes() + _torchvision_recipes() + pt2e_annotations.recipes() + generated


RECIPES = _recipes()


def excluded() -> list[tuple[str, str]]:
    return sorted(EXCLUDED)
