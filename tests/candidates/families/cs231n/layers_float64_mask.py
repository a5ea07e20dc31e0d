"""CS231n assignment 2's layer functions (:mod:`cs231n.layers`), written in our own words
for handgrad's tests, with one mistake: ``relu_backward`` multiplies by a float64 mask.

The values are right, but a float32 dout comes back as float64 (the dtype is upcast).
"""

from cs231n.layers import *


def relu_backward(dout, cache):
    x = cache
    dx = dout * (x > 0).astype(np.float64)
    return dx
