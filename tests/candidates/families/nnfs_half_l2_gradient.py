"""The classes of "Neural Networks from Scratch in Python" (:mod:`nnfs_classes`), written in
our own words for handgrad's tests, with one mistake: ``Layer_Dense.backward`` adds
l2·weights (and l2·biases) to the gradients, while ``Loss.regularization_loss`` still adds
l2·Σw², whose gradient is 2·l2·w.

dweights (and dbiases, with a bias regulariser) are wrong by l2·w whenever L2 is on.
"""

import nnfs_classes
from nnfs_classes import *


class Layer_Dense(nnfs_classes.Layer_Dense):
    def backward(self, dvalues):
        self.dweights = np.dot(self.inputs.T, dvalues)
        self.dbiases = np.sum(dvalues, axis=0, keepdims=True)
        if self.weight_regularizer_l1 > 0:
            dL1 = np.ones_like(self.weights)
            dL1[self.weights < 0] = -1
            self.dweights += self.weight_regularizer_l1 * dL1
        if self.weight_regularizer_l2 > 0:
            self.dweights += self.weight_regularizer_l2 * self.weights
        if self.bias_regularizer_l1 > 0:
            dL1 = np.ones_like(self.biases)
            dL1[self.biases < 0] = -1
            self.dbiases += self.bias_regularizer_l1 * dL1
        if self.bias_regularizer_l2 > 0:
            self.dbiases += self.bias_regularizer_l2 * self.biases
        self.dinputs = np.dot(dvalues, self.weights.T)
