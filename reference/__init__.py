"""obsconf's reference prepare: an independent, deliberately simple re-implementation
of prepare's observer placement, readable as a specification (README.md maps the rules
to files). It reuses torch's tracer, fuser, observer classes and config data classes,
never torch's placement logic.
"""

from .pipeline import RULES, RULES_KEY, prepare

__all__ = ["RULES", "RULES_KEY", "prepare"]
