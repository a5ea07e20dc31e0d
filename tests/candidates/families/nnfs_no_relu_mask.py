"""The classes of "Neural Networks from Scratch in Python" (:mod:`nnfs_classes`), written in
our own words for handgrad's tests, with one mistake: ``Activation_ReLU.backward`` copies
dvalues without zeroing them where the input was not positive.

Everything below the ReLU (dinputs of the first layer, its dweights and dbiases) is wrong
wherever a hidden unit is off.
"""

from nnfs_classes import *


class Activation_ReLU:
    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.maximum(0, inputs)

    def backward(self, dvalues):
        self.dinputs = dvalues.copy()
