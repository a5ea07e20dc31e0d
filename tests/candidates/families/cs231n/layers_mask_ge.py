"""CS231n assignment 2's layer functions (:mod:`cs231n.layers`), written in our own words
for handgrad's tests, with one mistake: ``relu_backward`` masks with x >= 0.

At inputs that are exactly 0 the derivative comes out 1 instead of 0.
"""

from cs231n.layers import *


def relu_backward(dout, cache):
    x = cache
    dx = dout * (x >= 0)
    return dx
