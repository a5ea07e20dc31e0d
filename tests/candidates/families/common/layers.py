"""deep-learning-from-scratch's ``common/layers.py`` (Saitoh, O'Reilly Japan), written in
our own words for handgrad's tests: the ``Relu``, ``Affine`` and ``SoftmaxWithLoss`` layers
with the book's attributes and ``forward``/``backward`` methods.

Correct, with one departure from the book: ``SoftmaxWithLoss`` takes its loss from the
scores with a log-softmax (:func:`common.functions.softmax_cross_entropy`) instead of
log(y + 1e-7). As in the book, ``Relu.backward`` zeroes dout in place and returns it.
"""

import numpy as np
from common.functions import *


class Relu:
    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout[self.mask] = 0
        dx = dout
        return dx


class Affine:
    def __init__(self, W, b):
        self.W = W
        self.b = b
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def forward(self, x):
        # Rows of any shape are flattened, as for image batches.
        self.original_x_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        self.x = x
        out = np.dot(self.x, self.W) + self.b
        return out

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        dx = dx.reshape(*self.original_x_shape)
        return dx


class SoftmaxWithLoss:
    def __init__(self):
        self.loss = None
        self.y = None  # the softmax's output
        self.t = None  # the targets: labels or one-hot rows

    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        self.loss = softmax_cross_entropy(x, t)
        return self.loss

    def backward(self, dout=1):
        batch_size = self.t.shape[0]
        if self.t.size == self.y.size:  # one-hot targets
            dx = (self.y - self.t) / batch_size
        else:
            dx = self.y.copy()
            dx[np.arange(batch_size), self.t] -= 1
            dx = dx / batch_size
        return dx
