"""Recipes, configuration presets and cases: the corpus as data.

A recipe builds a float model and its example inputs; a preset names a qconfig
mapping, a backend config and PTQ or QAT (prepare_fx's path), or a Quantizer and PTQ or
QAT (prepare_pt2e's path: the model is exported first); a case is one recipe under one
preset, with the id `family/recipe/preset`.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from packaging.version import Version


class SkipCase(Exception):
    """Raised by a builder when this environment cannot build the case (reason in the message)."""


FX, PT2E = "fx", "pt2e"  # the two paths of prepare: which contract a case calls


def _none() -> None:
    return None


@dataclass(frozen=True)
class ConfigPreset:
    name: str
    qconfig_mapping: Callable[[], Any] = _none
    backend_config: Callable[[], Any] = _none
    is_qat: bool = False
    equalization_config: Callable[[], Any] | None = None
    tags: tuple[str, ...] = ()
    # the PT2E path: a fresh Quantizer for each call (it annotates the exported graph);
    # qconfig_mapping and backend_config are then unused
    quantizer: Callable[[], Any] | None = None

    @property
    def path(self) -> str:
        return PT2E if self.quantizer is not None else FX


@dataclass(frozen=True)
class Recipe:
    family: str
    name: str
    build: Callable[[], torch.nn.Module]
    example_inputs: Callable[[], tuple]
    tags: tuple[str, ...] = ()
    # preset -> PrepareCustomConfig (custom modules, standalone modules), or None
    prepare_custom_config: Callable[[ConfigPreset], Any] | None = None
    # names of the presets this recipe runs under (or, for a generated case, its own
    # ConfigPreset); None means the default presets
    presets: tuple | None = None
    # build on the meta device: no weights are materialised (big torchvision models)
    meta: bool = False
    # names of the presets under which prepare refuses the recipe: negative cases, tag
    # `rejects`, whose golden records the oracle's exception
    rejects: tuple[str, ...] = ()

    @property
    def model_key(self) -> tuple:
        """What the float model a case builds depends on (not its name, tags or presets):
        recipes with the same key build the same model, so they share an export or a trace."""
        return (self.build, self.example_inputs, self.meta)


@dataclass(frozen=True)
class Case:
    recipe: Recipe
    preset: ConfigPreset
    tags: tuple[str, ...] = field(default=())

    @property
    def id(self) -> str:
        return f"{self.recipe.family}/{self.recipe.name}/{self.preset.name}"

    @property
    def is_qat(self) -> bool:
        return self.preset.is_qat

    @property
    def path(self) -> str:
        """`fx` (prepare_fx's contract) or `pt2e` (prepare_pt2e's)."""
        return self.preset.path

    def materialise(self) -> "CaseInputs":
        """Fresh inputs for one IUT call: IUTs may mutate the model and configs."""
        if self.path == PT2E:
            return self._materialise_exported()
        if self.recipe.meta:
            with torch.device("meta"), _no_init_of_meta_tensors():
                model = self.recipe.build()
                example_inputs = self.recipe.example_inputs()
        else:
            torch.manual_seed(0)
            model = self.recipe.build()
            example_inputs = self.recipe.example_inputs()
        model.train(self.is_qat)
        pcc = self.recipe.prepare_custom_config
        return CaseInputs(
            model=model,
            qconfig_mapping=self.preset.qconfig_mapping(),
            example_inputs=example_inputs,
            is_qat=self.is_qat,
            prepare_custom_config=pcc(self.preset) if pcc else None,
            backend_config=self.preset.backend_config(),
            equalization_config=self.preset.equalization_config() if self.preset.equalization_config else None,
        )


    def _materialise_exported(self) -> "CaseInputs":
        """The PT2E path's inputs: the float model exported with torch.export (in train
        mode for QAT, as torchao's QAT flow exports it) and a fresh Quantizer."""
        quantizer = self.preset.quantizer()  # first: where torchao is missing, the case skips before export
        exported, example_inputs = _EXPORTS.fresh(self.recipe, self.is_qat)
        return CaseInputs(model=exported, qconfig_mapping=None, example_inputs=example_inputs, is_qat=self.is_qat,
                          prepare_custom_config=None, backend_config=None, equalization_config=None,
                          quantizer=quantizer)


class _Exports:
    """The exported graph of the last few (model builder, inputs, train mode)s: the presets
    of one recipe (and the generated cases of one graph) export the same graph (an export
    costs 0.1 s for a small model, seconds for a torchvision one; a deep copy,
    milliseconds). Every call gets a deep copy, parameters, node metadata and all, so an
    IUT that mutates its model changes no later case's."""

    # kept while both hold: a suite run (pytest, one process) meets a case's export again
    # test after test, and a torchvision model's weights are tens of MB
    SIZE, BYTES = 256, 256 * 2**20

    def __init__(self):
        self._kept: dict = {}
        self._bytes: dict = {}

    def fresh(self, recipe: Recipe, is_qat: bool):
        try:  # what export depends on: the model, its inputs and train mode
            key = (*recipe.model_key, is_qat)
            hash(key)
        except TypeError:  # a recipe that holds something unhashable: export it each time
            return self._export(recipe, is_qat)
        if key not in self._kept:
            exported = self._export(recipe, is_qat)
            try:
                fresh = self._copy(exported)
            except Exception:  # torch 2.1's capture_pre_autograd_graph modules refuse a deep copy: export each time
                return exported
            self._kept[key] = exported
            self._bytes[key] = sum(t.numel() * t.element_size() for t in exported[0].state_dict().values())
            while len(self._kept) > self.SIZE or (len(self._kept) > 1 and sum(self._bytes.values()) > self.BYTES):
                oldest = next(iter(self._kept))
                del self._kept[oldest], self._bytes[oldest]
            return fresh
        self._kept[key] = self._kept.pop(key)  # the most recently used goes last
        return self._copy(self._kept[key])

    @staticmethod
    def _copy(exported):
        import copy
        import warnings

        with warnings.catch_warnings():  # torch 2.10's pytree specs warn about their own deep copy
            warnings.simplefilter("ignore")
            model, example_inputs = copy.deepcopy(exported)
            _own_metadata(model)
        return model, example_inputs

    @staticmethod
    def _export(recipe: Recipe, is_qat: bool):
        torch.manual_seed(0)
        model = recipe.build().train(is_qat)
        example_inputs = recipe.example_inputs()
        return export_for_quantization(model, example_inputs), example_inputs

    def clear(self) -> None:
        self._kept.clear()
        self._bytes.clear()


_EXPORTS = _Exports()


def _own_metadata(model) -> None:
    """A GraphModule's deep copy shares each node's metadata values with the original
    (torch.fx copies `node.meta` one level deep): give every node a deep copy of its own,
    the tensors aside (the fake tensors export records under "val" are not mutated)."""
    import copy

    from torch.utils._pytree import tree_leaves

    for node in model.graph.nodes:
        tensors = {id(leaf): leaf for leaf in tree_leaves(node.meta) if isinstance(leaf, torch.Tensor)}
        node.meta = copy.deepcopy(node.meta, tensors)


# the installed torch's (major, minor): which release's export flow and capture names apply
_RELEASE = Version(torch.__version__).release[:2]


def export_for_quantization(model: torch.nn.Module, example_inputs: tuple):
    """The graph prepare_pt2e takes, exported as each release's quantization flow exports it:
    `torch.export.export(model, inputs).module()`; under torch 2.5 ... 2.8
    `torch.export.export_for_training` (which export became; deprecated in 2.9, removed in
    2.10); under torch 2.1 ... 2.4 `torch._export.capture_pre_autograd_graph`. Export's
    warnings about the model (an RNN's flattened weights, say) are not the case's outcome."""
    import warnings

    import torch.export

    inputs = tuple(example_inputs)
    with warnings.catch_warnings(), _guards_module_wherever_this_runs():
        warnings.simplefilter("ignore")
        if _RELEASE < (2, 5):
            from torch._export import capture_pre_autograd_graph

            return _named_as_export_names(capture_pre_autograd_graph(model, inputs), model, inputs)
        if _RELEASE < (2, 9):
            return torch.export.export_for_training(model, inputs).module()
        return torch.export.export(model, inputs).module()


# torch 2.1 and 2.2's pt2e code reads a get_attr node's tensor with getattr(model,
# node.target) (pt2e/utils.py, _get_tensor_constant_from_node), which a path such as
# `op0.weight` defeats: there the parameters keep their top-level attributes and only the
# nodes get the later exports' names (`op0_weight`), which the plan names observers by
_NESTED_GET_ATTR = _RELEASE >= (2, 3)
# torch 2.1's capture names an op's node after its overload (`linear_default`,
# `add_tensor`); the later captures and exports after the op alone (`linear`, `add_1`)
_OVERLOAD_NAMED_OPS = _RELEASE < (2, 2)


def _named_as_export_names(gm, model, inputs):
    """capture_pre_autograd_graph (torch 2.1 ... 2.4) names the graph's inputs `arg0_1`,
    ... and puts the model's parameters and buffers on the graph module as
    `_param_constant0`, `_tensor_constant1`, ...; the later exports name the inputs after
    forward's parameters and keep the model's paths (get_attr `op0_weight` of target
    `op0.weight`), which the plan names observers by. The inputs (one tensor each) get
    forward's names, and each get_attr whose tensor is one of the model's (the same object,
    or under torch 2.4 the attribute named as its path flattened) its path: renaming, not
    a change of the graph prepare sees (under torch 2.1 and 2.2 the node's name only).
    Under torch 2.1 the ops' nodes get the later names too (`linear`, not `linear_default`)."""
    import inspect

    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    names = list(inspect.signature(model.forward).parameters)[:len(inputs)]
    if len(placeholders) == len(names) and all(isinstance(x, torch.Tensor) for x in inputs):
        for node, name in zip(placeholders, names):
            node.target = name
            _rename(node, name)
    state = list(itertools.chain(model.named_parameters(remove_duplicate=False),
                                 model.named_buffers(remove_duplicate=False)))
    by_object = {id(t): path for path, t in state}
    by_flat_name = {path.replace(".", "_"): path for path, _ in state}  # torch 2.4 keeps `op0_weight`
    moved: dict[str, str] = {}
    for node in list(gm.graph.nodes):
        if node.op != "get_attr" or "." in str(node.target):
            continue
        target = str(node.target)
        if target not in moved:
            tensor = getattr(gm, target)
            path = by_object.get(id(tensor)) or by_flat_name.get(target)
            if path is None:
                continue
            if path != target and _NESTED_GET_ATTR:
                owner = gm
                *parents, leaf = path.split(".")
                for part in parents:
                    if not hasattr(owner, part):
                        owner.add_module(part, torch.nn.Module())
                    owner = getattr(owner, part)
                delattr(gm, target)
                if isinstance(tensor, torch.nn.Parameter):
                    owner.register_parameter(leaf, tensor)
                else:
                    owner.register_buffer(leaf, tensor)
            moved[target] = path
        if _NESTED_GET_ATTR:
            node.target = moved[target]
        _rename(node, moved[target].replace(".", "_"))
    if _OVERLOAD_NAMED_OPS:
        for node in gm.graph.nodes:
            if node.op == "call_function" and isinstance(node.target, torch._ops.OpOverload):
                _rename(node, node.target.overloadpacket.__name__)
    gm.recompile()
    return gm


def _rename(node, candidate: str) -> None:
    """Node._rename (torch 2.2 on): the graph's free name nearest `candidate`."""
    if hasattr(node, "_rename"):
        return node._rename(candidate)
    if candidate != node.name:  # torch 2.1: the namespace keeps names by object
        namespace = node.graph._graph_namespace
        name = namespace.create_name(candidate, None)
        namespace._obj_to_name[node] = node.name = name


@contextlib.contextmanager
def _guards_module_wherever_this_runs():
    """torch.export (2.9 on) leaves the guards module (`_guards_fn`) out of `.module()` when
    a file on the call stack has "torchao", "executorch", ... in its path
    (torch/export/_unlift.py, _ok_to_generate_guards_fn): a checkout or virtual environment
    under such a path (tox's `torch2.14-torchao0.18`) would export every model otherwise.
    A case's model is a user's own module exported by a user's own program, which gets
    the guards module, so the export does wherever the suite runs."""
    try:
        import torch.export._unlift as unlift
    except ImportError:  # torch 2.0
        unlift = None
    if not hasattr(unlift, "_ok_to_generate_guards_fn"):
        yield
        return
    check = unlift._ok_to_generate_guards_fn
    unlift._ok_to_generate_guards_fn = lambda: True
    try:
        yield
    finally:
        unlift._ok_to_generate_guards_fn = check


@contextlib.contextmanager
def _no_init_of_meta_tensors():
    """torch.nn.init's in-place initialisers leave a meta tensor as it was (it has no data),
    yet under the meta device mode each costs a round of Python dispatch: most of the time
    a big model takes to build. Skip them for meta tensors only; any other tensor is
    initialised as usual."""
    import torch.nn.init as init

    saved = {name: getattr(init, name) for name in dir(init)
             if name.endswith("_") and not name.startswith("_") and callable(getattr(init, name))}

    def skipping(original):
        @functools.wraps(original)
        def initialise(tensor, *args, **kwargs):
            return tensor if getattr(tensor, "is_meta", False) else original(tensor, *args, **kwargs)
        return initialise

    for name, original in saved.items():
        setattr(init, name, skipping(original))
    try:
        yield
    finally:
        for name, original in saved.items():
            setattr(init, name, original)


@dataclass
class CaseInputs:
    model: torch.nn.Module
    qconfig_mapping: Any
    example_inputs: tuple
    is_qat: bool
    prepare_custom_config: Any
    backend_config: Any
    equalization_config: Any
    quantizer: Any = None  # the PT2E path's

    def kwargs(self) -> dict[str, Any]:
        return dict(
            is_qat=self.is_qat,
            prepare_custom_config=self.prepare_custom_config,
            backend_config=self.backend_config,
            equalization_config=self.equalization_config,
        )
