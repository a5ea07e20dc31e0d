"""CS231n assignment 2's ``TwoLayerNet`` (``cs231n/classifiers/fc_net.py``), written in our
own words for handgrad's tests: built from the layer functions of :mod:`cs231n.layers`, with
``reg`` given to the constructor and L2 in the form the starter asks for,
0.5·reg·(Σ‖W1‖² + Σ‖W2‖²), gradient reg·W. Biases are not regularised.

``TwoLayerNet`` is correct. Each subclass below overrides ``loss`` with one mistake:

- ``FullL2Net``: reg·Σ‖W‖² with gradient 2·reg·W, consistent but the other form.
- ``L2OnBiasesNet``: the half-form L2 also over b1 and b2, in the loss and the gradients.
- ``L2MissingInGradientsNet``: the loss has the L2 term, the gradients do not.
- ``NoReluMaskNet``: the backward pass skips relu_backward, so dW1 and db1 are wrong
  wherever a hidden unit is off.
"""

from builtins import range
from builtins import object
import numpy as np

from ..layers import *


class TwoLayerNet(object):
    """affine - relu - affine - softmax, with parameters in ``self.params``."""

    def __init__(
        self, input_dim=3 * 32 * 32, hidden_dim=100, num_classes=10, weight_scale=1e-3, reg=0.0
    ):
        self.params = {}
        self.reg = reg
        self.params["W1"] = weight_scale * np.random.randn(input_dim, hidden_dim)
        self.params["b1"] = np.zeros(hidden_dim)
        self.params["W2"] = weight_scale * np.random.randn(hidden_dim, num_classes)
        self.params["b2"] = np.zeros(num_classes)

    def loss(self, X, y=None):
        """The scores (N, C) when y is None, else (loss, grads) for labels y of shape (N,)."""
        return self._loss(X, y)

    def _loss(self, X, y, l2=0.5, l2_in_grads=True, l2_on_biases=False, relu_mask=True):
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]

        hidden, cache1 = affine_forward(X, W1, b1)
        hidden, cache_relu = relu_forward(hidden)
        scores, cache2 = affine_forward(hidden, W2, b2)
        if y is None:
            return scores

        grads = {}
        loss, dscores = softmax_loss(scores, y)
        regularised = ["W1", "W2"] + (["b1", "b2"] if l2_on_biases else [])
        for name in regularised:
            loss += l2 * self.reg * np.sum(self.params[name] * self.params[name])

        dhidden, grads["W2"], grads["b2"] = affine_backward(dscores, cache2)
        if relu_mask:
            dhidden = relu_backward(dhidden, cache_relu)
        dx, grads["W1"], grads["b1"] = affine_backward(dhidden, cache1)

        if l2_in_grads:
            for name in regularised:
                grads[name] += 2 * l2 * self.reg * self.params[name]
        return loss, grads


class FullL2Net(TwoLayerNet):
    """Mistake (for this family): L2 as reg·Σ‖W‖², gradient 2·reg·W."""

    def loss(self, X, y=None):
        return self._loss(X, y, l2=1.0)


class L2OnBiasesNet(TwoLayerNet):
    """Mistake: the half-form L2 also over b1 and b2, in the loss and the gradients."""

    def loss(self, X, y=None):
        return self._loss(X, y, l2_on_biases=True)


class L2MissingInGradientsNet(TwoLayerNet):
    """Mistake: the loss has 0.5·reg·Σ‖W‖², the gradients have no L2 term."""

    def loss(self, X, y=None):
        return self._loss(X, y, l2_in_grads=False)


class NoReluMaskNet(TwoLayerNet):
    """Mistake: dhidden goes to the first affine_backward without relu_backward's mask."""

    def loss(self, X, y=None):
        return self._loss(X, y, relu_mask=False)
