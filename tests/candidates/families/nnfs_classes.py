"""The classes of "Neural Networks from Scratch in Python" (Kinsley and Kukieła), written in
our own words for handgrad's tests: ``Layer_Dense`` (biases a 1×n row, L1 and L2
regularisers), ``Activation_ReLU``, ``Activation_Softmax``, ``Loss``,
``Loss_CategoricalCrossentropy`` and the combined
``Activation_Softmax_Loss_CategoricalCrossentropy``, with the book's attributes
(``output``, ``dinputs``, ``dweights``, ``dbiases``) and call order.

Correct, with one departure from the book: the book clips p to [1e-7, 1 − 1e-7] before the
log; here the combined class takes the loss from its inputs (the scores) with a log-softmax,
so that it stays exact when p underflows. Targets are labels (N,) or one-hot rows (N, C).

The mistakes are modules beside this one that star-import it and redefine one class:
``nnfs_clipped_p``, ``nnfs_no_relu_mask``, ``nnfs_no_row_max``, ``nnfs_half_l2_gradient``.
"""

import numpy as np


class Layer_Dense:
    """A fully connected layer: output = inputs·weights + biases."""

    def __init__(
        self,
        n_inputs,
        n_neurons,
        weight_regularizer_l1=0,
        weight_regularizer_l2=0,
        bias_regularizer_l1=0,
        bias_regularizer_l2=0,
    ):
        self.weights = 0.01 * np.random.randn(n_inputs, n_neurons)
        self.biases = np.zeros((1, n_neurons))
        self.weight_regularizer_l1 = weight_regularizer_l1
        self.weight_regularizer_l2 = weight_regularizer_l2
        self.bias_regularizer_l1 = bias_regularizer_l1
        self.bias_regularizer_l2 = bias_regularizer_l2

    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.dot(inputs, self.weights) + self.biases

    def backward(self, dvalues):
        self.dweights = np.dot(self.inputs.T, dvalues)
        self.dbiases = np.sum(dvalues, axis=0, keepdims=True)

        # Regularisation: d|w|/dw is 1 or -1 (1 at 0, as the book has it), d(w²)/dw is 2w.
        if self.weight_regularizer_l1 > 0:
            dL1 = np.ones_like(self.weights)
            dL1[self.weights < 0] = -1
            self.dweights += self.weight_regularizer_l1 * dL1
        if self.weight_regularizer_l2 > 0:
            self.dweights += 2 * self.weight_regularizer_l2 * self.weights
        if self.bias_regularizer_l1 > 0:
            dL1 = np.ones_like(self.biases)
            dL1[self.biases < 0] = -1
            self.dbiases += self.bias_regularizer_l1 * dL1
        if self.bias_regularizer_l2 > 0:
            self.dbiases += 2 * self.bias_regularizer_l2 * self.biases

        self.dinputs = np.dot(dvalues, self.weights.T)


class Activation_ReLU:
    def forward(self, inputs):
        self.inputs = inputs
        self.output = np.maximum(0, inputs)

    def backward(self, dvalues):
        # The gradient passes where the input was positive; 0 at and below zero.
        self.dinputs = dvalues.copy()
        self.dinputs[self.inputs <= 0] = 0


class Activation_Softmax:
    def forward(self, inputs):
        self.inputs = inputs
        exp_values = np.exp(inputs - np.max(inputs, axis=1, keepdims=True))
        self.output = exp_values / np.sum(exp_values, axis=1, keepdims=True)

    def backward(self, dvalues):
        # Row by row, the Jacobian diag(p) - p·pᵀ applied to that row's dvalues.
        self.dinputs = np.empty_like(dvalues)
        for index, (single_output, single_dvalues) in enumerate(
            zip(self.output, dvalues, strict=True)
        ):
            column = single_output.reshape(-1, 1)
            jacobian = np.diagflat(column) - np.dot(column, column.T)
            self.dinputs[index] = np.dot(jacobian, single_dvalues)


class Loss:
    def regularization_loss(self, layer):
        regularization_loss = 0
        if layer.weight_regularizer_l1 > 0:
            regularization_loss += layer.weight_regularizer_l1 * np.sum(np.abs(layer.weights))
        if layer.weight_regularizer_l2 > 0:
            regularization_loss += layer.weight_regularizer_l2 * np.sum(layer.weights**2)
        if layer.bias_regularizer_l1 > 0:
            regularization_loss += layer.bias_regularizer_l1 * np.sum(np.abs(layer.biases))
        if layer.bias_regularizer_l2 > 0:
            regularization_loss += layer.bias_regularizer_l2 * np.sum(layer.biases**2)
        return regularization_loss

    def calculate(self, output, y):
        sample_losses = self.forward(output, y)
        data_loss = np.mean(sample_losses)
        return data_loss


class Loss_CategoricalCrossentropy(Loss):
    """-log of the probability given to the right class, from the predicted p (unclipped)."""

    def forward(self, y_pred, y_true):
        samples = len(y_pred)
        if len(y_true.shape) == 1:
            correct_confidences = y_pred[range(samples), y_true]
        elif len(y_true.shape) == 2:
            correct_confidences = np.sum(y_pred * y_true, axis=1)
        negative_log_likelihoods = -np.log(correct_confidences)
        return negative_log_likelihoods

    def backward(self, dvalues, y_true):
        samples = len(dvalues)
        labels = len(dvalues[0])
        if len(y_true.shape) == 1:
            y_true = np.eye(labels, dtype=dvalues.dtype)[y_true]
        self.dinputs = -y_true / dvalues
        self.dinputs = self.dinputs / samples


class Activation_Softmax_Loss_CategoricalCrossentropy:
    """Softmax and cross-entropy together, for the short backward p - y."""

    def __init__(self):
        self.activation = Activation_Softmax()
        self.loss = Loss_CategoricalCrossentropy()

    def forward(self, inputs, y_true):
        self.activation.forward(inputs)
        self.output = self.activation.output
        # The loss from the scores: log p = shifted - log(sum(exp(shifted))), never log(p).
        shifted = inputs - np.max(inputs, axis=1, keepdims=True)
        log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
        if len(y_true.shape) == 1:
            sample_losses = -log_probs[range(len(inputs)), y_true]
        elif len(y_true.shape) == 2:
            sample_losses = -np.sum(log_probs * y_true, axis=1)
        return np.mean(sample_losses)

    def backward(self, dvalues, y_true):
        samples = len(dvalues)
        if len(y_true.shape) == 2:
            y_true = np.argmax(y_true, axis=1)
        self.dinputs = dvalues.copy()
        self.dinputs[range(samples), y_true] -= 1
        self.dinputs = self.dinputs / samples
