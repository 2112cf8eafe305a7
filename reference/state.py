"""What convert reads from an observed module, under the attribute names convert uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class ObservedGraphModuleAttrs:
    """Stored in `meta["_observed_graph_module_attrs"]` of the observed module."""

    node_name_to_qconfig: dict[str, Any]
    node_name_to_scope: dict[str, tuple[str, type]]
    prepare_custom_config: Any
    equalization_node_name_to_qconfig: dict[str, Any]
    qconfig_mapping: Any
    is_qat: bool
    observed_node_names: set[str]
    is_observed_standalone_module: bool = False
    standalone_module_input_quantized_idxs: list[int] | None = None
    standalone_module_output_quantized_idxs: list[int] | None = None
