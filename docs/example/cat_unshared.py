"""An out-of-tree implementation under test, for the README's end-to-end example: torch's
own prepare with one deliberate change. torch makes cat's inputs and output share one
observer; this one keeps them apart (as a backend that requantizes inside cat might)."""

import sys

from torch.ao.quantization.quantize_fx import prepare_fx, prepare_qat_fx


def prepare(model, qconfig_mapping, example_inputs, *, is_qat=False, prepare_custom_config=None,
            backend_config=None, equalization_config=None):
    prepare_module = sys.modules["torch.ao.quantization.fx.prepare"]
    original = prepare_module._maybe_make_input_output_share_observers

    def share(node, *args, **kwargs):
        import torch

        # the deliberate change: report success without sharing, so nothing is removed
        return True if node.target is torch.cat else original(node, *args, **kwargs)

    prepare_module._maybe_make_input_output_share_observers = share
    try:
        if is_qat:
            return prepare_qat_fx(model, qconfig_mapping, example_inputs,
                                  prepare_custom_config=prepare_custom_config, backend_config=backend_config)
        return prepare_fx(model, qconfig_mapping, example_inputs, prepare_custom_config=prepare_custom_config,
                          _equalization_config=equalization_config, backend_config=backend_config)
    finally:
        prepare_module._maybe_make_input_output_share_observers = original
