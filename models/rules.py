"""Small models aimed at one placement rule each (see reference/README.md): qconfig
precedence, constraints and fallback, reuse-input, quantized graph inputs, custom
modules, equalization, graph outputs of every shape, get_attr and norm weights."""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import nn
from torch.ao.quantization.fx.custom_config import PrepareCustomConfig

from .configs import STATIC_AND_QAT, SUPPORT_PRESETS, WIDE_DTYPES
from .patterns import Embedding, FixedQParams
from .recipe import Recipe
from .standalone import ConvReLU


def _image():
    return (torch.randn(1, 3, 8, 8),)


def _vector():
    return (torch.randn(2, 8),)


class Mixed(nn.Module):
    """Names that the x86-mixed preset's mapping addresses (module_name, regex, order, None)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 1)
        self.blocks = nn.ModuleList([ConvReLU(), ConvReLU(), ConvReLU()])
        self.head = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 8), nn.Linear(8, 4))

    def forward(self, x):
        x = self.stem(x)
        y = x
        for block in self.blocks:
            y = block(y)
        y = y + x  # operator.add: None by object_type in x86-mixed
        y = F.relu(y)
        y = y.mean([2, 3])
        y = self.head(y)
        return F.relu(y), torch.sigmoid(y)


class ReuseInput(nn.Module):
    """reshape has a reuse-input qconfig in the default mappings: after a conv it shares the
    conv's observer; right after the graph input there is none to share."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.linear = nn.Linear(4 * 64, 4)

    def forward(self, x):
        a = x.reshape(1, 3, 64)
        y = self.conv(x).reshape(1, -1)
        return self.linear(y), a


class QuantizedInput(nn.Module):
    """With input/output_quantized_idxs [0]: maxpool right after the quantized input is
    observed outside this graph, so it does not share."""

    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.conv = nn.Conv2d(3, 4, 1)
        self.relu = nn.ReLU()

    def forward(self, x, scale):
        return self.relu(self.conv(self.pool(x))), scale * 2


class WithPreservedAttributes(nn.Module):
    """Attributes a user keeps through prepare and convert (preserved_attributes): a number,
    a list and a tensor; one named attribute the model does not have."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.linear = nn.Linear(4, 2)
        self.version = 3
        self.label_names = ["cat", "dog"]
        self.register_buffer("mean", torch.tensor([0.5, 0.25, 0.125]))

    def forward(self, x):
        x = self.conv(x - self.mean.reshape(1, 3, 1, 1))
        return self.linear(x.mean([2, 3]))


def preserved_attributes(_preset) -> PrepareCustomConfig:
    return PrepareCustomConfig().set_preserved_attributes(["version", "label_names", "mean", "not_there"])


class Parametrized(nn.Module):
    """weight_norm-ed layers: their classes are Parametrized* subclasses, but a qconfig by
    type (and the QAT swap) sees the class before parametrization."""

    def __init__(self):
        super().__init__()
        from torch.nn.utils.parametrizations import weight_norm

        self.linear = weight_norm(nn.Linear(8, 8))
        self.up = weight_norm(nn.ConvTranspose1d(2, 2, 3, padding=1))
        self.head = nn.Linear(8, 4)

    def forward(self, x):
        x = self.linear(x)
        x = self.up(x.reshape(2, 2, 4)).reshape(2, 8)
        return self.head(x)


def quantized_io(_preset) -> PrepareCustomConfig:
    return PrepareCustomConfig().set_input_quantized_indexes([0]).set_output_quantized_indexes([0])


class Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(8, 8)

    def forward(self, x):
        return self.linear(x)


class ObservedCustom(Custom):
    @classmethod
    def from_float(cls, float_module):
        observed = cls()
        observed.linear = float_module.linear
        observed.qconfig = float_module.qconfig
        return observed


class WithCustom(nn.Module):
    def __init__(self):
        super().__init__()
        self.before = nn.Linear(8, 8)
        self.custom = Custom()
        self.after = nn.Linear(8, 4)

    def forward(self, x):
        return self.after(self.custom(self.before(x)))


def custom_module(_preset) -> PrepareCustomConfig:
    return PrepareCustomConfig().set_float_to_observed_mapping(Custom, ObservedCustom)


class Equalization(nn.Module):
    """linear -> relu -> linear is equalized (so is F.linear, whose bias is left alone);
    z feeding two quantized users is a branch."""

    def __init__(self):
        super().__init__()
        self.first = nn.Linear(8, 8)
        self.relu = nn.ReLU()
        self.second = nn.Linear(8, 4)
        self.w = nn.Parameter(torch.randn(4, 8))
        self.b = nn.Parameter(torch.randn(4))
        self.side = nn.Linear(8, 4)

    def forward(self, x, z, u):
        y = self.second(self.relu(self.first(x)))
        return y, F.linear(u, self.w, self.b), self.side(z), self.side(z) * 2


class EqualizationOfModules(nn.Module):
    """linear -> relu -> linear of modules only: torch converts its equalization (with a
    functional weight held as a Parameter, _convert_equalization_ref raises TypeError in
    torch 2.14: scale_weight_functional assigns a plain tensor to the Parameter)."""

    def __init__(self):
        super().__init__()
        self.first = nn.Linear(8, 8)
        self.relu = nn.ReLU()
        self.second = nn.Linear(8, 4)

    def forward(self, x):
        return self.second(self.relu(self.first(x)))


class Outputs(nn.Module):
    """Graph outputs nested in dicts, tuples and lists, with None and an unobserved input."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.conv(x)
        return {"conv": y, "more": (self.relu(y), [torch.flatten(y, 1), None]), "input": x}


class GetAttr(nn.Module):
    """Parameters and buffers used directly: get_attr nodes take their owner's qconfig."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.offset = nn.Parameter(torch.randn(1, 4, 1, 1))
        self.register_buffer("scale", torch.ones(1, 4, 1, 1))

    def forward(self, x):
        return (self.conv(x) + self.offset) * self.scale


class Norms(nn.Module):
    """layer_norm and group_norm weights are never observed (non-quantizable weight ops)."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(8, 8)
        self.ln = nn.LayerNorm(8)
        self.w = nn.Parameter(torch.ones(8))
        self.b = nn.Parameter(torch.zeros(8))

    def forward(self, x):
        y = self.ln(self.linear(x))
        y = F.layer_norm(y, (8,), self.w, self.b)
        return F.group_norm(y.unsqueeze(-1), 2, self.w, self.b)


class TransposeAndPReLU(nn.Module):
    """ConvTranspose and PReLU have their own qconfigs in the default mappings."""

    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(3, 4, 2, stride=2)
        self.prelu = nn.PReLU()

    def forward(self, x):
        return self.prelu(self.up(x))


class FunctionalConv(nn.Module):
    """F.conv2d + F.relu with weight and bias from get_attr: weight and bias indexes."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 3, 3, 3))
        self.b = nn.Parameter(torch.randn(4))

    def forward(self, x):
        return F.relu(F.conv2d(x, self.w, self.b, padding=1))


class Unknown(nn.Module):
    """Ops no BackendConfig knows (erf, abs as a method) between quantized ops."""

    def __init__(self):
        super().__init__()
        self.first = nn.Linear(8, 8)
        self.second = nn.Linear(8, 8)

    def forward(self, x):
        return self.second(torch.erf(self.first(x)).abs())


class Shapes(nn.Module):
    """Ops with non-tensor arguments: interpolate, adaptive pooling, clamp, permute, getitem."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.pool = nn.AdaptiveAvgPool2d((2, 2))

    def forward(self, x):
        y = F.interpolate(self.conv(x), scale_factor=2.0, mode="nearest")
        y = torch.clamp(self.pool(y), -1.0, 1.0).permute(0, 2, 3, 1)
        flat = y.view([y.size(0), -1])  # a list argument holding a size() node
        by_keyword = torch.flatten(input=y, start_dim=1)  # no positional tensor: nothing to share with
        return y[:, 0], operator.getitem(y.shape, 1), flat, by_keyword


class SharingGivesUp(nn.Module):
    """Ops that share their input's observer, where there is none to find: after a factory
    call (no tensor input), after a keyword-only call whose output observer was dropped,
    and as the second input of cat."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        y = self.conv(x)
        from_factory = torch.clamp(torch.ones(1, 4, 2, 2), -1.0, 1.0)  # -1.0 makes clamp a tensor op
        by_keyword = torch.transpose(input=y, dim0=2, dim1=3)
        chained = torch.flatten(by_keyword, 1)
        joined = torch.cat([y, torch.flatten(input=y, start_dim=0, end_dim=0)], 1)
        return from_factory, chained, joined


class MaskThroughView(nn.Module):
    """The bool mask reaches masked_fill through a view: its dtype propagates back through it."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(8, 8)

    def forward(self, x, mask):
        return self.linear(x).masked_fill(mask.view(2, 8), 0.0)


class MaskAndShapeChains(nn.Module):
    """Known dtypes propagating further: the bool mask reaches masked_fill through two
    views and a cat of two slices (propagation recurses through the views and stops at the
    cat, whose first argument is a list), ints from size() reach reshape inside a list and
    inside a tuple, and an int times 1 is a pattern op on no tensor at all."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(8, 8)

    def forward(self, x, mask):
        y = self.linear(x)
        n = y.size(0) * 1
        z = y.reshape([y.size(0), 8]).reshape((n, y.size(1)))
        halves = torch.cat([mask[:8], mask[8:]])
        return z.masked_fill(halves.view(2, 8).view(2, 8), 0.0)


class EqualizedFunctionalConv(nn.Module):
    """F.conv2d equalized: its stride and padding are arguments that are not nodes, and take
    no equalization observer (nor does the bias)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 3, 1, 1))
        self.b = nn.Parameter(torch.randn(4))

    def forward(self, x):
        return F.conv2d(x, self.w, self.b, 1, 0)


class TwoDtypesOneInput(nn.Module):
    """x feeds a linear quantized to quint8 and one (signed) quantized to qint8 with the same
    observer class: each gets its own observer on x, never the other's."""

    def __init__(self):
        super().__init__()
        self.unsigned = nn.Linear(8, 4)
        self.signed = nn.Linear(8, 4)

    def forward(self, x):
        return self.unsigned(x), self.signed(x)


class LinearByKeyword(nn.Module):
    """F.linear with weight and bias passed by keyword, left in float by the mapping: the
    backend check still reads its (absent) weight and bias constructors; then an int from
    size() times 1 (a pattern op on no tensor)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 8))
        self.b = nn.Parameter(torch.randn(4))

    def forward(self, x):
        y = torch.relu(F.linear(x, weight=self.w, bias=self.b))
        return y.reshape(x.size(0) * 1, -1)


class MatmulOfTwo(nn.Module):
    def forward(self, x, y):
        return torch.matmul(x, y)


class DynamicLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(8, 8)
        self.lstm = nn.LSTM(8, 8)
        self.relu = nn.ReLU()

    def forward(self, x):
        y, _ = self.lstm(self.relu(self.linear(x)).unsqueeze(0))
        return y


class TwoLinears(nn.Module):
    """flatten (sharing its input's observer) straight after the graph input, then two
    linears: each activation dtype the wide-dtype presets name is observed on every edge,
    and flatten shares the input's observer only where the input is not taken to be
    quantized already (quint8 and uint8 inputs are)."""

    def __init__(self):
        super().__init__()
        self.first = nn.Linear(8, 8)
        self.second = nn.Linear(8, 4)

    def forward(self, x):
        return self.second(self.first(torch.flatten(x, 1)))


class WithCustomTwice(WithCustom):
    """The same custom module called twice: it is swapped for its observed class once."""

    def forward(self, x):
        return self.after(self.custom(self.custom(self.before(x))))


class LinearAndCats(nn.Module):
    """A linear module, a functional linear (its weight and bias are graph arguments) and
    cat of a list and of a tuple: the patterns the backend-support presets support in every
    way but one."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(8, 8)
        self.w = nn.Parameter(torch.randn(8, 8))
        self.b = nn.Parameter(torch.randn(8))

    def forward(self, x, y):
        z = self.linear(x)
        v = F.linear(y, self.w, self.b)
        return torch.cat([z, v], 1), torch.cat((v, z), 1)


class EqualizationBeside(nn.Module):
    """Equalized linears whose input also feeds a module left in float (float_side has a
    None qconfig), a quantized module (a quantized branch: no equalization), and a
    functional linear without bias (its None argument takes no observer)."""

    def __init__(self):
        super().__init__()
        self.first = nn.Linear(8, 8)
        self.float_side = nn.Sigmoid()
        self.second = nn.Linear(8, 4)
        self.third = nn.Linear(8, 4)
        self.w = nn.Parameter(torch.randn(4, 8))

    def forward(self, x, z):
        a = self.first(x)
        b = self.float_side(x)
        c = self.second(z) + self.third(z)
        return a, b, c, F.linear(a, self.w, None)


ALL_STATIC = ("x86-static", "qnnpack-static", "x86-qat", "native-fp16")

class LongSharingWalk(nn.Module):
    """A cat whose input is a standalone module's quantized output, reached from the last
    observer through 9,999 unobserved Softplus calls: prepare's walk back to that
    observer takes exactly 10,000 steps, the most its guard allows (first_input picks
    whether the walk starts at the cat's first input or at a later one)."""

    STEPS = 9_999

    def __init__(self, first_input: bool, steps: int = STEPS):
        super().__init__()
        self.first_input = first_input
        self.steps = steps  # one more than STEPS: the guard refuses (a negative case)
        self.conv = nn.Conv2d(3, 4, 1)
        self.beside = nn.Conv2d(3, 4, 1)
        # one module called many times: a leaf the matcher leaves unquantized and whose
        # no-tensor check does not recurse, so the graph is long but prepare's recursion is not
        self.softplus = nn.Softplus()
        self.sub = ConvReLU()

    def forward(self, x):
        y = self.conv(x)
        for _ in range(self.steps):
            y = self.softplus(y)
        y = self.sub(y)
        parts = [y, self.beside(x)] if self.first_input else [self.beside(x), y]
        return torch.cat(parts, 1)


def standalone_output_quantized(_preset) -> PrepareCustomConfig:
    inner = PrepareCustomConfig().set_output_quantized_indexes([0])
    return PrepareCustomConfig().set_standalone_module_name("sub", None, (torch.randn(1, 4, 8, 8),), inner, None)


RECIPES = [
    Recipe("rules", "mixed-mapping", Mixed, _image, tags=("qconfig-precedence",), presets=("x86-mixed",)),
    Recipe("rules", "reuse-input", ReuseInput, _image, tags=("reuse-input", "reshape"), presets=STATIC_AND_QAT),
    Recipe(
        "rules",
        "quantized-io",
        QuantizedInput,
        lambda: (torch.randn(1, 3, 8, 8), torch.randn(1)),
        tags=("quantized-io",),
        prepare_custom_config=quantized_io,
        presets=STATIC_AND_QAT,
    ),
    Recipe("rules", "custom-module", WithCustom, _vector, tags=("custom-module",),
           prepare_custom_config=custom_module, presets=("x86-static", "qnnpack-static", "x86-dynamic")),
    Recipe("rules", "equalization", Equalization, lambda: (torch.randn(2, 8), torch.randn(2, 8), torch.randn(2, 8)),
           tags=("equalization",), presets=("x86-equalization",)),
    Recipe("rules", "outputs", Outputs, _image, tags=("graph-output",), presets=ALL_STATIC),
    Recipe("rules", "get-attr", GetAttr, _image, tags=("get_attr",), presets=ALL_STATIC),
    Recipe("rules", "norms", Norms, _vector, tags=("layer_norm", "group_norm"), presets=ALL_STATIC),
    Recipe("rules", "transpose-prelu", TransposeAndPReLU, _image, tags=("conv-transpose", "prelu"),
           presets=ALL_STATIC),
    Recipe("rules", "functional-conv", FunctionalConv, _image, tags=("functional", "fusion"), presets=ALL_STATIC),
    Recipe("rules", "unknown-ops", Unknown, _vector, tags=("unmatched",), presets=ALL_STATIC),
    Recipe("rules", "shapes", Shapes, _image, tags=("non-tensor-arg",), presets=ALL_STATIC),
    Recipe("rules", "fixed-qparams-constraints", FixedQParams, _vector, tags=("fixed-qparams", "constraints"),
           presets=("qnnpack-global-default", "qnnpack-qint8-symmetric")),
    Recipe("rules", "qint8-constraints", Mixed, _image, tags=("constraints",),
           presets=("qnnpack-qint8-symmetric", "qnnpack-qint8-unsymmetric")),
    Recipe("rules", "dynamic-layers", DynamicLayers, lambda: (torch.randn(3, 8),), tags=("dynamic", "lstm"),
           presets=("x86-dynamic", "x86-dynamic-fp16")),
    Recipe("rules", "sharing-gives-up", SharingGivesUp, _image, tags=("sharing", "kwargs"), presets=ALL_STATIC),
    Recipe("rules", "mask-through-view", MaskThroughView, lambda: (torch.randn(2, 8), torch.rand(16) > 0.5),
           tags=("masked_fill", "bool-arg", "dtype-propagation"), presets=ALL_STATIC),
    # The deprecated dict forms of the configs, and no backend config (the native one).
    Recipe("rules", "api-forms", Mixed, _image, tags=("api",), presets=("x86-dict-configs", "default-backend")),
    Recipe("rules", "equalization-dict", Equalization, lambda: (torch.randn(2, 8), torch.randn(2, 8), torch.randn(2, 8)),
           tags=("equalization", "api"), presets=("x86-dict-configs",)),
    # Asked for by `obsconf strength` (docs/strength.md): each kills the mutants named.
    # _OBS_DTYPE_LIST without one dtype; _is_observer_in_same_graph without uint8.
    Recipe("rules", "wide-dtypes", TwoLinears, _vector, tags=("wide-dtype", "linear"),
           presets=tuple(f"wide-{name}" for name in WIDE_DTYPES)),
    # _is_*_supported_by_backend and the fallback to float when a pattern is not supported.
    Recipe("rules", "backend-support", LinearAndCats, lambda: (torch.randn(2, 8), torch.randn(2, 8)),
           tags=("backend-support", "linear", "cat"), presets=tuple(SUPPORT_PRESETS)),
    # is_quantized_branch: which other users of an equalized node's input count as quantized.
    Recipe("rules", "equalization-beside", EqualizationBeside, lambda: (torch.randn(2, 8), torch.randn(2, 8)),
           tags=("equalization", "branch"), presets=("x86-equalization-partial",)),
    # Mappings by module type meet fused and QAT-swapped module types.
    Recipe("rules", "by-type", Equalization, lambda: (torch.randn(2, 8), torch.randn(2, 8), torch.randn(2, 8)),
           tags=("object-type", "fusion"), presets=("x86-by-type", "x86-qat-by-type", "x86-equalization-by-type")),
    Recipe("rules", "custom-module-twice", WithCustomTwice, _vector, tags=("custom-module",),
           prepare_custom_config=custom_module, presets=("x86-static", "x86-qat")),
    Recipe("rules", "mask-and-shape-chains", MaskAndShapeChains, lambda: (torch.randn(2, 8), torch.rand(16) > 0.5),
           tags=("masked_fill", "bool-arg", "dtype-propagation", "non-tensor-arg"), presets=ALL_STATIC),
    Recipe("rules", "equalization-functional-conv", EqualizedFunctionalConv, _image, tags=("equalization", "functional"),
           presets=("x86-equalization",)),
    Recipe("rules", "two-dtypes-one-input", TwoDtypesOneInput, _vector, tags=("mixed-dtypes", "linear"),
           presets=("two-dtypes-static",)),
    Recipe("rules", "dynamic-two-inputs", MatmulOfTwo, lambda: (torch.randn(2, 8), torch.randn(8, 3)),
           tags=("dynamic", "matmul"), presets=("dynamic-matmul",)),
    Recipe("rules", "linear-by-keyword", LinearByKeyword, _vector, tags=("kwargs", "none-qconfig"),
           presets=("x86-functional-linear-float", "x86-static", "support-anything-linear-float")),
    Recipe("rules", "embedding-weight-only", Embedding, lambda: (torch.randint(0, 10, (2, 5)),),
           tags=("embedding", "weight-only"), presets=("x86-embedding-weight-only",)),
    # What convert reads besides placement (docs/convert-inventory.md).
    Recipe("rules", "equalization-of-modules", EqualizationOfModules, _vector, tags=("equalization",),
           presets=("x86-equalization",)),
    # QAT by module type without fusion: convert given the mapping reads is_qat to find the
    # QAT classes' qconfigs (with fusion torch's convert refuses the mapping it prepared with).
    Recipe("rules", "qat-by-type-unfused", TwoLinears, _vector, tags=("object-type", "qat"),
           presets=("x86-qat-by-type",)),
    Recipe("rules", "preserved-attributes", WithPreservedAttributes, _image, tags=("preserved-attributes",),
           prepare_custom_config=preserved_attributes, presets=("x86-static", "x86-qat")),
    Recipe("rules", "parametrized-weights", Parametrized, _vector, tags=("parametrization", "object-type"),
           presets=("x86-static", "x86-linear-float", "x86-qat", "x86-qat-linear-float")),
    Recipe("rules", "long-sharing-walk-first-input", lambda: LongSharingWalk(True), _image,
           tags=("sharing", "standalone", "long-graph", "strength"), prepare_custom_config=standalone_output_quantized,
           presets=("x86-static",)),
    Recipe("rules", "long-sharing-walk-other-input", lambda: LongSharingWalk(False), _image,
           tags=("sharing", "standalone", "long-graph", "strength"), prepare_custom_config=standalone_output_quantized,
           presets=("x86-static",)),
]
