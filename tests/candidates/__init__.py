"""Candidate implementations for the gate's self-tests.

Each module exposes manual's API (``Params, forward, backward, cross_entropy,
softmax_jacobian``) and can be passed to ``--candidate``. Modules named in ``WRONG`` each
make one mistake people really make; those in ``CORRECT`` are right but written
differently. ``_compose`` rebuilds ``backward`` from manual's formulas with one swapped.
"""

WRONG = {
    # module: the quantities whose failure the mistake must show up in (at least one)
    "no_relu_mask": ("dL/ds1", "dL/dx", "dL/dw1", "dL/db1"),
    "sign_error": ("dL/ds2",),
    "forgot_mean": ("dL/ds2",),
    "scale_1e3": ("dL/dw1",),
}

CORRECT = ("float64_inside",)
