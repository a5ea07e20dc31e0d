"""CS231n assignment 2's layer functions (``cs231n/layers.py``), written in our own words
for handgrad's tests: ``affine_forward``/``affine_backward``, ``relu_forward``/
``relu_backward`` and ``softmax_loss``, with the starter's signatures and caches. Correct.

The mistakes are modules beside this one that star-import it and redefine one function:
``layers_float64_mask``, ``layers_keepdims_bias``, ``layers_no_row_max``, ``layers_mask_ge``.
"""

from builtins import range
import numpy as np


def affine_forward(x, w, b):
    """out = x·w + b for x of shape (N, d_1, ..., d_k), each row flattened to D values.

    Returns (out, cache) with out (N, M) and cache (x, w, b).
    """
    out = x.reshape(x.shape[0], -1).dot(w) + b
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    """Given dout (N, M) and the cache (x, w, b), returns (dx, dw, db).

    dx has x's shape, dw is (D, M) and db is (M,).
    """
    x, w, b = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


def relu_forward(x):
    """Returns (out, cache): out = max(0, x), and x itself as the cache."""
    out = np.maximum(0, x)
    cache = x
    return out, cache


def relu_backward(dout, cache):
    """dx = dout where the input was positive, 0 elsewhere (0 at exactly 0 too)."""
    x = cache
    dx = dout.copy()
    dx[x <= 0] = 0
    return dx


def softmax_loss(x, y):
    """Softmax cross-entropy of scores x (N, C) against labels y (N,), the mean over N.

    Returns (loss, dx). The loss is taken from a log-softmax of the shifted scores, so that
    it stays finite when a probability underflows.
    """
    N = x.shape[0]
    shifted = x - np.max(x, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    probs = np.exp(log_probs)
    loss = -np.sum(log_probs[np.arange(N), y]) / N
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx
