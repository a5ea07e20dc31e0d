"""deep-learning-from-scratch's ``common/gradient.py`` (Saitoh, O'Reilly Japan), written in
our own words for handgrad's tests: ``numerical_gradient(f, x)`` by central differences.
"""

import numpy as np


def numerical_gradient(f, x):
    """df/dx at x, one element at a time: (f(x + h) - f(x - h)) / 2h, with h = 1e-4.

    x is changed in place while f is evaluated and restored afterwards.
    """
    h = 1e-4
    grad = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        tmp_val = x[idx]
        x[idx] = tmp_val + h
        fxh1 = f(x)
        x[idx] = tmp_val - h
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * h)
        x[idx] = tmp_val
    return grad
