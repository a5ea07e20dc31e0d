"""CS231n assignment 1's ``TwoLayerNet`` (``cs231n/classifiers/neural_net.py``), written in
our own words for handgrad's tests: the published class, constructor and ``loss(X, y=None,
reg=0.0)``, with L2 in the assignment's full form, reg·(Σ‖W1‖² + Σ‖W2‖²), gradient 2·reg·W.

``TwoLayerNet`` is correct. Each subclass below overrides ``loss`` with one mistake:

- ``NoRowMaxNet``: the softmax and log-softmax do not subtract the row maximum, so large
  scores overflow exp and the loss and every gradient become nan or inf.
- ``NoReluMaskNet``: the backward pass forgets the ReLU mask on dhidden, so dW1 and db1
  are wrong wherever a hidden unit is off.
- ``LogOfSoftmaxNet``: the loss is −log of the softmax's p, which is inf when p underflows
  (the gradients are right).
- ``HalfL2GradientNet``: the loss has reg·Σ‖W‖² but the weight gradients add only reg·W.
"""

from __future__ import print_function

from builtins import range
from builtins import object
import numpy as np


class TwoLayerNet(object):
    """A two-layer net: input - fully connected - ReLU - fully connected - softmax."""

    def __init__(self, input_size, hidden_size, output_size, std=1e-4):
        self.params = {}
        self.params["W1"] = std * np.random.randn(input_size, hidden_size)
        self.params["b1"] = np.zeros(hidden_size)
        self.params["W2"] = std * np.random.randn(hidden_size, output_size)
        self.params["b2"] = np.zeros(output_size)

    def loss(self, X, y=None, reg=0.0):
        """The scores (N, C) when y is None, else (loss, grads) for labels y of shape (N,)."""
        return self._loss(X, y, reg)

    def _loss(self, X, y, reg, row_max=True, relu_mask=True, log_of_p=False, l2_grad=2):
        W1, b1 = self.params["W1"], self.params["b1"]
        W2, b2 = self.params["W2"], self.params["b2"]
        N = X.shape[0]

        # Forward pass.
        hidden = np.maximum(0, X.dot(W1) + b1)
        scores = hidden.dot(W2) + b2
        if y is None:
            return scores

        # Softmax loss, from the scores: log p = shifted - log(sum(exp(shifted))).
        shifted = scores - np.max(scores, axis=1, keepdims=True) if row_max else scores
        exp_scores = np.exp(shifted)
        sum_exp = np.sum(exp_scores, axis=1, keepdims=True)
        probs = exp_scores / sum_exp
        if log_of_p:
            loss = np.sum(-np.log(probs[np.arange(N), y])) / N
        else:
            log_probs = shifted - np.log(sum_exp)
            loss = -np.sum(log_probs[np.arange(N), y]) / N
        loss += reg * (np.sum(W1 * W1) + np.sum(W2 * W2))

        # Backward pass.
        grads = {}
        dscores = probs.copy()
        dscores[np.arange(N), y] -= 1
        dscores /= N
        grads["W2"] = hidden.T.dot(dscores) + l2_grad * reg * W2
        grads["b2"] = np.sum(dscores, axis=0)
        dhidden = dscores.dot(W2.T)
        if relu_mask:
            dhidden[hidden <= 0] = 0
        grads["W1"] = X.T.dot(dhidden) + l2_grad * reg * W1
        grads["b1"] = np.sum(dhidden, axis=0)
        return loss, grads

    def predict(self, X):
        """The predicted label of each row of X."""
        return np.argmax(self.loss(X), axis=1)


class NoRowMaxNet(TwoLayerNet):
    """Mistake: the softmax does not subtract the row maximum (overflows for large scores)."""

    def loss(self, X, y=None, reg=0.0):
        return self._loss(X, y, reg, row_max=False)


class NoReluMaskNet(TwoLayerNet):
    """Mistake: no ReLU mask on dhidden (dW1 and db1 are wrong where a unit is off)."""

    def loss(self, X, y=None, reg=0.0):
        return self._loss(X, y, reg, relu_mask=False)


class LogOfSoftmaxNet(TwoLayerNet):
    """Mistake: the loss is -log(p[y]) of the softmax's p (inf when p underflows)."""

    def loss(self, X, y=None, reg=0.0):
        return self._loss(X, y, reg, log_of_p=True)


class HalfL2GradientNet(TwoLayerNet):
    """Mistake: loss reg·Σ‖W‖², but the weight gradients add reg·W (the 2 is missing)."""

    def loss(self, X, y=None, reg=0.0):
        return self._loss(X, y, reg, l2_grad=1)
