"""Where this environment's PT2E path comes from: torchao's `torchao.quantization.pt2e`
(the oracle at the default pins; torch 2.11 removed torch's own) or torch's own
`torch.ao.quantization` pt2e (torch 2.1 ... 2.10), which the tox matrix checks against the
goldens. The quantizers, quantization specs, observers and prepare_pt2e of a case all
come from the one source, as they would in a user's program on that release.

torchao wins where it imports; `OBSCONF_PT2E=torch.ao` (or `torchao`) chooses, and
`OBSCONF_PT2E=none` skips the path.
Where neither is there, a pt2e case skips, saying why.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os

from .recipe import SkipCase

TORCHAO, TORCH_AO, NONE = "torchao", "torch.ao", "none"
ENV = "OBSCONF_PT2E"

# role -> (torchao's module, torch.ao's module)
_MODULES = {
    "quantizer": ("torchao.quantization.pt2e.quantizer", "torch.ao.quantization.quantizer"),
    "quantize_pt2e": ("torchao.quantization.pt2e.quantize_pt2e", "torch.ao.quantization.quantize_pt2e"),
    "observer": ("torchao.quantization.pt2e.observer", "torch.ao.quantization.observer"),
    "fake_quantize": ("torchao.quantization.pt2e.fake_quantize", "torch.ao.quantization.fake_quantize"),
    "utils": ("torchao.quantization.pt2e.utils", "torch.ao.quantization.pt2e.utils"),
    "export_utils": ("torchao.quantization.pt2e.export_utils", "torch.ao.quantization.pt2e.export_utils"),
    "qat_utils": ("torchao.quantization.pt2e.qat_utils", "torch.ao.quantization.pt2e.qat_utils"),
    # XNNPACKQuantizer lives in torchao's testing package (executorch ships the maintained one)
    "xnnpack": ("torchao.testing.pt2e._xnnpack_quantizer", "torch.ao.quantization.quantizer.xnnpack_quantizer"),
    "xnnpack_utils": ("torchao.testing.pt2e._xnnpack_quantizer_utils",
                      "torch.ao.quantization.quantizer.xnnpack_quantizer_utils"),
    "x86": ("torchao.quantization.pt2e.quantizer.x86_inductor_quantizer",
            "torch.ao.quantization.quantizer.x86_inductor_quantizer"),
    "embedding": ("torchao.quantization.pt2e.quantizer.embedding_quantizer",
                  "torch.ao.quantization.quantizer.embedding_quantizer"),
    "composable": ("torchao.quantization.pt2e.quantizer", "torch.ao.quantization.quantizer.composable_quantizer"),
}


def _import_torchao():
    # torchao's import logs a deprecation of torch's (KernelPreference's pytree registration)
    pytree_log = logging.getLogger("torch.utils._pytree")
    level = pytree_log.level
    pytree_log.setLevel(logging.ERROR)
    try:
        importlib.import_module(_MODULES["quantizer"][0])
    finally:
        pytree_log.setLevel(level)


def _import_torch_ao():
    importlib.import_module(_MODULES["quantize_pt2e"][1])


@functools.cache
def _chosen() -> str:
    wanted = os.environ.get(ENV, "").strip()
    if wanted == NONE:
        raise SkipCase(f"{ENV}=none: the pt2e path is not run in this environment")
    if wanted not in ("", TORCHAO, TORCH_AO):
        raise SkipCase(f"{ENV}={wanted!r}: say {TORCHAO!r}, {TORCH_AO!r} or {NONE!r}")
    reasons = []
    for name, load in ((TORCHAO, _import_torchao), (TORCH_AO, _import_torch_ao)):
        if wanted and name != wanted:
            continue
        try:
            load()
        except Exception as exc:  # an ImportError, or a torchao that does not pair with this torch
            reasons.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        return name
    raise SkipCase("no PT2E implementation is importable here (" + "; ".join(reasons) + ")")


def source() -> str:
    """`torchao` or `torch.ao`, the pattern exports remembered for it; SkipCase where neither
    imports (not cached: a later install is seen)."""
    name = _chosen()
    from . import pattern_exports

    pattern_exports.install(module("utils"), module("qat_utils"))
    return name


def module(role: str):
    """The module that plays `role` (a key of _MODULES) in this environment's source."""
    return importlib.import_module(_MODULES[role][0 if _chosen() == TORCHAO else 1])


def here() -> str | None:
    """version(), or None where no pt2e implementation is there (or OBSCONF_PT2E=none)."""
    try:
        return version()
    except SkipCase:
        return None


def version() -> str:
    """What the pt2e cases run on, for reports: `torchao 0.18.0` or `torch.ao (torch 2.10.0)`."""
    import torch

    if source() == TORCHAO:
        import torchao

        return f"torchao {torchao.__version__}"
    return f"torch.ao (torch {torch.__version__})"
