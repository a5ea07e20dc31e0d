"""The classes of "Neural Networks from Scratch in Python" (:mod:`nnfs_classes`), written in
our own words for handgrad's tests, with one mistake: ``Activation_Softmax`` does not
subtract the row maximum before exp. The combined class uses it, and takes the loss from
its p as -log(p of the right class).

exp overflows for large scores, and p, the loss and every gradient become nan.
"""

import nnfs_classes
from nnfs_classes import *


class Activation_Softmax(nnfs_classes.Activation_Softmax):
    def forward(self, inputs):
        self.inputs = inputs
        exp_values = np.exp(inputs)
        self.output = exp_values / np.sum(exp_values, axis=1, keepdims=True)


class Activation_Softmax_Loss_CategoricalCrossentropy(
    nnfs_classes.Activation_Softmax_Loss_CategoricalCrossentropy
):
    def __init__(self):
        self.activation = Activation_Softmax()
        self.loss = Loss_CategoricalCrossentropy()

    def forward(self, inputs, y_true):
        self.activation.forward(inputs)
        self.output = self.activation.output
        return self.loss.calculate(self.output, y_true)
