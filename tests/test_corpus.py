"""The corpus is what it says: every torchvision model is a case or excluded with a
reason that still holds; every zoo model contains the pattern it is named after."""

import warnings

import pytest
import torch
from torch.ao.quantization.fx.custom_config import PrepareCustomConfig

from conformance.cli import main
from models import all_cases, excluded, torchvision_models, zoo
from reference.patterns import find_matches
from reference.tracing import trace_and_fuse


def test_every_torchvision_model_is_a_recipe_or_excluded():
    listed = {name for names in torchvision_models.models_by_kind().values() for name in names}
    recipes = {r.name for r in torchvision_models.RECIPES}
    assert recipes | set(torchvision_models.EXCLUDED) == listed
    assert not recipes & set(torchvision_models.EXCLUDED)


@pytest.mark.parametrize("name", sorted(torchvision_models.EXCLUDED))
def test_excluded_torchvision_models_still_fail_to_trace(name):
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import prepare_fx

    kind = next(k for k, names in torchvision_models.models_by_kind().items() if name in names)
    with torch.device("meta"):
        model = torchvision_models.builder(name, kind)().eval()
    with warnings.catch_warnings(), pytest.raises(Exception) as raised:
        warnings.simplefilter("ignore")
        prepare_fx(model, get_default_qconfig_mapping("x86"), (torch.randn(1, 3, 224, 224),))
    assert f"{type(raised.value).__name__}: {raised.value}".startswith(torchvision_models.EXCLUDED[name][:60])


def test_list_excluded_prints_every_exclusion_with_its_reason(capsys):
    assert main(["list", "--excluded"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == f"{len(excluded())} left out"
    assert "torchvision/raft_small\tFX cannot trace it: TraceError: symbolically traced variables cannot be used " \
           "as inputs to control flow" in lines
    assert any(line.startswith("zoo/x86/method.shape\t") for line in lines)
    assert all("\t" in line and line.split("\t")[1] for line in lines[:-1])


def test_regnet_builds_on_the_meta_device():
    case = next(c for c in all_cases() if c.id == "torchvision/regnet_y_128gf/x86-static")
    inputs = case.materialise()
    assert next(inputs.model.parameters()).device.type == "meta"


def _without_batchnorm(pattern):
    if not isinstance(pattern, tuple):
        return pattern
    head, *args = pattern
    if isinstance(head, type) and issubclass(head, torch.nn.modules.batchnorm._BatchNorm) and len(args) == 1:
        return _without_batchnorm(args[0])
    return (head, *(_without_batchnorm(a) for a in args))


def _innermost(pattern):
    while isinstance(pattern, tuple):
        pattern = pattern[-1]
    return pattern


@pytest.mark.parametrize("backend", zoo.BACKENDS)
def test_every_zoo_model_contains_its_pattern(backend):
    """Traced and fused as prepare does (QAT when a QAT preset uses it), the model holds a
    match of its pattern, or of what fusion makes of it: the fused module, or under PTQ the
    conv/linear with batch norm folded in."""
    config = zoo.backend_config(backend)
    by_slug = {zoo.pattern_slug(p): p for p in config._pattern_complex_format_to_config}
    missing = []
    for recipe in (r for r in zoo.RECIPES if r.name.startswith(f"{backend}/")):
        if set(recipe.presets) <= set(recipe.rejects):
            continue  # prepare refuses it under every preset (the fuser, say): nothing is matched
        pattern = by_slug[recipe.name.split("/", 1)[1]]
        # QAT when a QAT preset prepares it (one it refuses, a negative case, does not count)
        qat = any(p.endswith("-qat") and p not in recipe.rejects for p in recipe.presets)
        wanted = {pattern, config._pattern_complex_format_to_config[pattern].fused_module}
        if not qat:
            folded = config._pattern_complex_format_to_config.get(_without_batchnorm(pattern))
            wanted |= {_innermost(pattern), folded.fused_module if folded else None}
        graph_module, _ = trace_and_fuse(recipe.build().train(qat), PrepareCustomConfig(), qat, config, False)
        modules = dict(graph_module.named_modules(remove_duplicate=False))
        found = {m.pattern for m in find_matches(graph_module.graph, modules, config, PrepareCustomConfig()).values()}
        if not wanted & found:
            missing.append(recipe.name)
    assert missing == []


def test_a_meta_build_skips_init_of_meta_tensors_only():
    """torch.nn.init is skipped for meta tensors (no data to fill) while a meta recipe
    builds; a CPU tensor made meanwhile is initialised as usual, and init is restored."""
    import torch.nn.init as init

    from models.recipe import _no_init_of_meta_tensors

    original = init.kaiming_uniform_
    cpu = torch.zeros(4, 4, device="cpu")
    with torch.device("meta"), _no_init_of_meta_tensors():
        meta = torch.empty(4, 4)
        assert init.kaiming_uniform_(meta) is meta
        init.constant_(cpu, 3.0)
    assert torch.equal(cpu, torch.full((4, 4), 3.0))
    assert init.kaiming_uniform_ is original
