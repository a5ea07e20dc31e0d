"""Candidate implementations for the gate's self-tests.

Each module exposes manual's API (``Params, forward, backward, cross_entropy,
softmax_jacobian``), or names a function as ``module:function``, and can be passed to
``--candidate``. Modules named in ``WRONG`` each
make one mistake people really make; those in ``CORRECT`` are right but written
differently. ``_compose`` rebuilds ``backward`` from manual's formulas with one swapped, and
``_second`` the second-order products (``jvp``, ``hvp``, ``ggn_vp``) likewise.
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
    "bias_wrong_axis": (("dL/db2",), "summed over the wrong axis"),
    "w2_from_s1": (("dL/dw2",), "s1ᵀ·dL/ds2"),
    "softmax_no_max": (("p",), "overflow"),
    "jacobian_no_diagonal": (("dp/ds2",), "only on the diagonal"),
    "jacobian_no_offdiagonal": (("dp/ds2",), "off the diagonal"),
    "p_minus_y_always": (("dL/ds2",), "sums to 1"),
    "scale_1e3": (("dL/dw1",), "scale error"),
    "wrong_dtype": (("dL/dw1",), "dtype"),
    "inplace_p": (("p",), "modified"),
    "inplace_x": (("x",), "modified"),
    "single_row_outer": (("dL/dw1",), "the transpose of the right result"),
    "blocked_drops_tail": (("dL/dw1",), None),
    # Mistakes found in public coursework, textbook and tutorial code, and two classics.
    "softmax_global_max": (("p",), "over the whole matrix, not per row"),
    "log_of_softmax": (("loss",), "−log of an underflowed p"),
    "soft_targets_argmax": (("dL/ds2",), "collapsed to their largest class"),
    "onehot_float64": (("dL/ds2",), "a float64 constant or cast promoted the result"),
    "onehot_width_from_labels": (("backward",), "could not be broadcast"),
    "bias_summed_to_scalar": (("dL/db2", "dL/db1"), "summed over every axis"),
    "clipped_p": (("p",), "p is clipped from below"),
    "inplace_relu_mask": (("dL/do1",), "applied to dL/do1 in place"),
    "log_plus_epsilon": (("loss",), "a constant inside the log"),
    "bias_keepdims": (("dL/db2", "dL/db1"), "an extra axis of length 1"),
    # Second order (``_second`` composes manual's products with one formula replaced).
    "hvp_returns_gv": (
        ("R{dL/do1}", "R{dL/dw2}", "R{dL/ds1}", "R{dL/dx}", "R{dL/dw1}", "R{dL/db1}"),
        "hvp returns Gv",
    ),
    "tangent_softmax_no_inner": (("ṗ",), "−p ⊙ ⟨p, ṡ2⟩ term of J(p)·ṡ2 is missing"),
    "tangent_relu_no_mask": (("ȯ1",), "mask [s1 > 0] is missing from the tangent"),
    "hessian_without_target_sum": (("R{dL/ds2}", "G{dL/ds2}"), "σ = Σ_c y_c"),
    "hessian_forgot_mean": (("R{dL/ds2}", "G{dL/ds2}"), "1/N"),
    "r_mask_missing": (("R{dL/ds1}", "G{dL/ds1}"), "the ReLU mask [s1 > 0] is missing"),
    "r_dw1_without_dx_term": (("R{dL/dw1}",), "without its bilinear term ẋᵀ·dL/ds1"),
    "r_dx_without_dw1_term": (("R{dL/dx}",), "without its bilinear term dL/ds1·ẇ1ᵀ"),
    # L2 regularisation, declared in each module's HANDGRAD_SCOPE (function candidates).
    "l2_other_form:candidate": (("loss", "dL/dw1", "dL/dw2"), "declare --l2-form half"),
    "l2_inconsistent:candidate": (("dL/dw1", "dL/dw2"), "the loss and its gradient disagree"),
    "l2_on_biases:candidate": (("loss", "dL/db1", "dL/db2"), "also covers the biases"),
    "l2_missing_in_loss:candidate": (("loss",), "the term is missing there"),
    "l2_missing_in_gradients:candidate": (("dL/dw1", "dL/dw2"), "the term is missing there"),
}

CORRECT = ("float64_inside", "mask_on_o1", "logsumexp", "einsum", "chunked_reversed",
           "fortran_order", "bias_from_formula", "float64_accumulation",
           "second_order_regrouped", "l2_full:candidate", "l2_half:candidate",
           "l2_biases:candidate")  # fmt: skip
