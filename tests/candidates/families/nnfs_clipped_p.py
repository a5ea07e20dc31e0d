"""The classes of "Neural Networks from Scratch in Python" (:mod:`nnfs_classes`), written in
our own words for handgrad's tests, with one mistake: the combined
``Activation_Softmax_Loss_CategoricalCrossentropy`` takes the loss as the book does,
-log(clip(p, 1e-7, 1 - 1e-7)) of the right class's probability.

The loss is wrong where p is below 1e-7 (or above 1 - 1e-7); the gradients are unchanged.
"""

import nnfs_classes
from nnfs_classes import *


class Activation_Softmax_Loss_CategoricalCrossentropy(
    nnfs_classes.Activation_Softmax_Loss_CategoricalCrossentropy
):
    def forward(self, inputs, y_true):
        self.activation.forward(inputs)
        self.output = self.activation.output
        samples = len(self.output)
        y_pred_clipped = np.clip(self.output, 1e-7, 1 - 1e-7)
        if len(y_true.shape) == 1:
            correct_confidences = y_pred_clipped[range(samples), y_true]
        elif len(y_true.shape) == 2:
            correct_confidences = np.sum(y_pred_clipped * y_true, axis=1)
        return np.mean(-np.log(correct_confidences))
