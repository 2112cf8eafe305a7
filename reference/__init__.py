"""obsconf's reference prepare: an independent, deliberately simple re-implementation
of prepare's observer placement, readable as a specification.

Not written yet (see README.md here). `IMPLEMENTED` tells the runner so, and it says
so in one line instead of reporting every case as an error.
"""

IMPLEMENTED = False


def prepare(model, qconfig_mapping, example_inputs, *, is_qat=False, prepare_custom_config=None,
            backend_config=None, equalization_config=None):
    raise NotImplementedError("the obsconf reference prepare is not implemented yet")
