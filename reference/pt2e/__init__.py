"""The reference's prepare_pt2e: observer placement from the quantization annotations a
Quantizer wrote on an exported graph (prepare's second path), one rule family a module
as in reference/. It reuses torchao's fusers, observer classes and quantization-spec
data classes, never torchao's (or torch's) pt2e prepare; tests/test_reference_boundary.py
enforces that.
"""

from .pipeline import ASKED_BY_KEY, RULES, RULES_KEY, prepare_pt2e

__all__ = ["ASKED_BY_KEY", "RULES", "RULES_KEY", "prepare_pt2e"]
