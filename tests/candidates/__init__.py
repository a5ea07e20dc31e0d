"""Candidate implementations for the gate's self-tests.

Each module exposes manual's API (``Params, forward, backward, cross_entropy,
softmax_jacobian``) and can be passed to ``--candidate``. Modules named in ``WRONG`` each
make one mistake people really make; those in ``CORRECT`` are right but written
differently. ``_compose`` rebuilds ``backward`` from manual's formulas with one swapped.
"""

# module: (the quantities the gate must name, the cause its diagnosis must give or None)
WRONG: dict[str, tuple[tuple[str, ...], str | None]] = {
    "no_relu_mask": (("dL/ds1", "dL/dx", "dL/dw1", "dL/db1"), "ReLU mask"),
    "mask_missing_in_dx": (("dL/dx",), "ReLU mask"),
    "mask_missing_in_dw1": (("dL/dw1",), "ReLU mask"),
    "bias_without_mask": (("dL/db1",), "ReLU mask"),
    "mask_ge": (("dL/ds1",), "kink"),
    "sign_error": (("dL/ds2",), "sign"),
    "forgot_mean": (("dL/ds2",), "1/N"),
    "mean_twice": (("dL/dw2",), "1/N"),
    "bias_wrong_axis": (("dL/db2",), "shape"),
    "w2_from_s1": (("dL/dw2",), None),
    "softmax_no_max": (("p",), "overflow"),
    "jacobian_no_diagonal": (("dp/ds2",), "only on the diagonal"),
    "jacobian_no_offdiagonal": (("dp/ds2",), "off the diagonal"),
    "p_minus_y_always": (("dL/ds2",), "sums to 1"),
    "scale_1e3": (("dL/dw1",), "scale error"),
    "wrong_dtype": (("dL/dw1",), "dtype"),
    "inplace_p": (("p",), "modified"),
    "inplace_x": (("x",), "modified"),
    "single_row_outer": (("dL/dw1",), "shape"),
    "blocked_drops_tail": (("dL/dw1",), None),
}

CORRECT = ("float64_inside", "mask_on_o1", "logsumexp", "einsum", "chunked_reversed",
           "fortran_order", "bias_from_formula", "float64_accumulation")  # fmt: skip
