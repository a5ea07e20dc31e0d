"""CS231n assignment 1's ``TwoLayerNet.loss``, written as students write it, as plain
functions: the loss and the four parameter gradients, integer labels, a mean, and L2.

``full`` is the assignment's form (reg·Σ‖W‖², gradient 2·reg·W), ``half`` the other common
one (0.5·reg·Σ‖W‖², gradient reg·W); ``no_mask`` is ``full`` without the ReLU mask in the
backward pass, and ``no_max`` is ``full`` with a softmax that does not subtract the row
maximum. No p, no dL/ds2, no dL/dx: they never leave the function.
"""

from __future__ import annotations

from typing import Any

import numpy as np

HANDGRAD_SCOPE = {"targets": ["labels"], "reductions": ["mean"]}


def _loss(X: Any, y: Any, params: dict[str, Any], reg: float, half: bool, mask: bool = True,
          shift: bool = True) -> dict[str, Any]:  # fmt: skip
    W1, b1, W2, b2 = params["w1"], params["b1"], params["w2"], params["b2"]
    N = X.shape[0]
    hidden = np.maximum(0, X.dot(W1) + b1)
    scores = hidden.dot(W2) + b2
    scores_shifted = scores - np.max(scores, axis=1, keepdims=True) if shift else scores
    exp_scores = np.exp(scores_shifted)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    log_probs = scores_shifted - np.log(np.sum(exp_scores, axis=1, keepdims=True))
    factor = 0.5 if half else 1.0
    loss = -np.sum(log_probs[np.arange(N), y]) / N
    loss += factor * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))

    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    dscores /= N
    grads = {"W2": hidden.T.dot(dscores) + 2 * factor * reg * W2,
             "b2": np.sum(dscores, axis=0)}  # fmt: skip
    dhidden = dscores.dot(W2.T)
    if mask:
        dhidden[hidden <= 0] = 0
    grads["W1"] = X.T.dot(dhidden) + 2 * factor * reg * W1
    grads["b1"] = np.sum(dhidden, axis=0)
    return {"loss": loss, "dL/dw1": grads["W1"], "dL/db1": grads["b1"],
            "dL/dw2": grads["W2"], "dL/db2": grads["b2"]}  # fmt: skip


def full(x: Any, y: Any, params: dict[str, Any], reduction: str = "mean",  # noqa: ARG001 (mean only)
         l2: float = 0.0) -> dict[str, Any]:  # fmt: skip
    return _loss(x, y, params, l2, half=False)


def half(x: Any, y: Any, params: dict[str, Any], reduction: str = "mean",  # noqa: ARG001
         l2: float = 0.0) -> dict[str, Any]:  # fmt: skip
    return _loss(x, y, params, l2, half=True)


def no_mask(x: Any, y: Any, params: dict[str, Any], reduction: str = "mean",  # noqa: ARG001
            l2: float = 0.0) -> dict[str, Any]:  # fmt: skip
    return _loss(x, y, params, l2, half=False, mask=False)


def no_max(x: Any, y: Any, params: dict[str, Any], reduction: str = "mean",  # noqa: ARG001
           l2: float = 0.0) -> dict[str, Any]:  # fmt: skip
    return _loss(x, y, params, l2, half=False, shift=False)


def no_l2(x: Any, y: Any, params: dict[str, Any], reduction: str = "mean") -> dict[str, Any]:  # noqa: ARG001
    """The same without a regulariser: it takes no l2= at all."""
    return _loss(x, y, params, 0.0, half=False)
