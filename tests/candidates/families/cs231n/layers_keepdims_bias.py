"""CS231n assignment 2's layer functions (:mod:`cs231n.layers`), written in our own words
for handgrad's tests, with one mistake: ``affine_backward`` sums db with keepdims=True.

db comes back with shape (1, M) instead of b's (M,).
"""

from cs231n.layers import *


def affine_backward(dout, cache):
    x, w, b = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=0, keepdims=True)
    return dx, dw, db
