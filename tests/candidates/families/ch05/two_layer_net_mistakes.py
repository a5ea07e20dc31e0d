"""deep-learning-from-scratch's ``TwoLayerNet`` (:mod:`two_layer_net`), written in our own
words for handgrad's tests, with one mistake in each subclass: its ``__init__`` builds the
correct net and then replaces one kind of layer with a mistaken one defined here.

- ``LogPlusEpsilonNet``: the last layer's loss is the book's -Σ log(y[t] + 1e-7) /
  batch_size, wrong where y is small (the gradients are right).
- ``ReluMaskGeNet``: a Relu whose mask is x < 0, so an input of exactly 0 passes the
  gradient (derivative 1 at 0).
- ``KeepdimsBiasNet``: Affine layers whose db keeps the summed axis, shape (1, M).
- ``ForgotBatchMeanNet``: the last layer's backward does not divide by batch_size (the loss
  is still the mean), so every gradient is batch_size times too large.
"""

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent))
import numpy as np
from two_layer_net import TwoLayerNet
from common.layers import *


class SoftmaxWithLossLogPlusEpsilon(SoftmaxWithLoss):
    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        labels = t.argmax(axis=1) if t.size == self.y.size else t
        batch_size = self.y.shape[0]
        self.loss = -np.sum(np.log(self.y[np.arange(batch_size), labels] + 1e-7)) / batch_size
        return self.loss


class ReluMaskGe(Relu):
    def forward(self, x):
        self.mask = x < 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout[self.mask] = 0
        dx = dout
        return dx


class AffineKeepdimsBias(Affine):
    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0, keepdims=True)
        dx = dx.reshape(*self.original_x_shape)
        return dx


class SoftmaxWithLossNoBatchMean(SoftmaxWithLoss):
    def backward(self, dout=1):
        batch_size = self.t.shape[0]
        if self.t.size == self.y.size:
            dx = self.y - self.t
        else:
            dx = self.y.copy()
            dx[np.arange(batch_size), self.t] -= 1
        return dx


class LogPlusEpsilonNet(TwoLayerNet):
    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01):
        super().__init__(input_size, hidden_size, output_size, weight_init_std)
        self.lastLayer = SoftmaxWithLossLogPlusEpsilon()


class ReluMaskGeNet(TwoLayerNet):
    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01):
        super().__init__(input_size, hidden_size, output_size, weight_init_std)
        self.layers["Relu1"] = ReluMaskGe()


class KeepdimsBiasNet(TwoLayerNet):
    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01):
        super().__init__(input_size, hidden_size, output_size, weight_init_std)
        self.layers["Affine1"] = AffineKeepdimsBias(self.params["W1"], self.params["b1"])
        self.layers["Affine2"] = AffineKeepdimsBias(self.params["W2"], self.params["b2"])


class ForgotBatchMeanNet(TwoLayerNet):
    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01):
        super().__init__(input_size, hidden_size, output_size, weight_init_std)
        self.lastLayer = SoftmaxWithLossNoBatchMean()
