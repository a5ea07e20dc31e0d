"""deep-learning-from-scratch's ``common/functions.py`` (Saitoh, O'Reilly Japan), written in
our own words for handgrad's tests: the softmax, and a cross-entropy for ``SoftmaxWithLoss``.

Correct, with one departure from the book: the book's cross-entropy is
-Σ log(y[t] + 1e-7) / batch_size of the softmax's output y; here it is taken from the
scores with a log-softmax, so that it stays exact when y underflows.
"""

import numpy as np


def softmax(x):
    """The softmax of each row (the last axis) of x, the row maximum subtracted first."""
    x = x - np.max(x, axis=-1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


def log_softmax(x):
    """log(softmax(x)) as x - max - log(Σ exp(x - max)), finite where softmax(x) is 0."""
    x = x - np.max(x, axis=-1, keepdims=True)
    return x - np.log(np.sum(np.exp(x), axis=-1, keepdims=True))


def softmax_cross_entropy(x, t):
    """The mean over the batch of -Σ t·log(softmax(x)), for scores x.

    t is one label per row (batch_size,) or one row of targets per row (batch_size, C).
    """
    if x.ndim == 1:
        t = t.reshape(1, t.size)
        x = x.reshape(1, x.size)
    log_y = log_softmax(x)
    batch_size = x.shape[0]
    if t.size == log_y.size:
        return -np.sum(t * log_y) / batch_size
    return -np.sum(log_y[np.arange(batch_size), t]) / batch_size
