"""The order of prepare_pt2e as a specification:

1. record each node's scope; 2. PTQ: fold batch norms into the convs and linears before
them (torchao's fuser); 3. the quantizer transforms, annotates and validates the graph;
4. QAT: replace conv + batch norm with the QAT pattern (torchao's fuser), after annotation;
5. a spec for every annotated edge and node (annotations); 6. group them (sharing);
7. build one observer per group (observers), and let the quantizer see them; 8. one pass
inserting them (insertion); 9. record what convert reads (state).
"""

from __future__ import annotations

from torch.ao.quantization import QConfigMapping
from torch.ao.quantization.fx.custom_config import PrepareCustomConfig
from torch.ao.quantization.utils import _assert_and_get_unique_device
from torch.fx import GraphModule

from ..state import ObservedGraphModuleAttrs
from . import annotations, insertion, observers, sharing

RULES_KEY = "obsconf_reference_rules"
ASKED_BY_KEY = "obsconf_reference_annotations"


def prepare_pt2e(model: GraphModule, quantizer, *, is_qat: bool = False) -> GraphModule:
    """The pt2e contract's prepare (see conformance/contract.py), in the module docstring's
    order; the model it returns refuses train() and eval(), as torchao's does."""
    from torchao.quantization.pt2e.qat_utils import _fuse_conv_bn_qat
    from torchao.quantization.pt2e.utils import _disallow_eval_train, _fuse_conv_bn_, _fuse_linear_bn_

    original_meta = model.meta
    scopes = node_scopes(model)
    if not is_qat:
        _fuse_conv_bn_(model)
        _fuse_linear_bn_(model)
    model = quantizer.transform_for_annotation(model)
    quantizer.annotate(model)
    quantizer.validate(model)
    if is_qat:
        _fuse_conv_bn_qat(model)
    specs = annotations.edge_and_node_specs(model.graph)
    instances = observers.observer_per_group(sharing.sharing_groups(specs), specs, is_qat)
    quantizer.prepare_obs_or_fq_callback(model, instances)
    p = insertion.Insertion(model, instances, _assert_and_get_unique_device(model))
    insertion.observe_annotated_nodes(p)
    result = GraphModule(model, model.graph)
    result.meta["_observed_graph_module_attrs"] = ObservedGraphModuleAttrs(
        node_name_to_qconfig={}, node_name_to_scope=scopes, prepare_custom_config=PrepareCustomConfig(),
        equalization_node_name_to_qconfig={}, qconfig_mapping=QConfigMapping(), is_qat=is_qat,
        observed_node_names=set())
    result.meta[RULES_KEY], result.meta[ASKED_BY_KEY] = p.rules, p.asked_by
    result.meta.update(original_meta)
    return _disallow_eval_train(result)


def node_scopes(model: GraphModule) -> dict[str, tuple]:
    """A node's scope is the innermost entry of its nn_module_stack: the last part of that
    module's path and its type (as text); ('', NoneType) for a node without one."""
    scopes = {}
    for node in model.graph.nodes:
        stack = node.meta.get("nn_module_stack")
        innermost = list(stack.values())[-1] if stack else None
        scopes[node.name] = (innermost[0].split(".")[-1], innermost[1]) if innermost else ("", type(None))
    return scopes


# The rule each inserted node records, and the function that states it.
RULES = {
    "annotated-input": insertion.observe_input,
    "annotated-output": insertion.observe_output,
}
