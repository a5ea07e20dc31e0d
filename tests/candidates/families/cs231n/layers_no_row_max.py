"""CS231n assignment 2's layer functions (:mod:`cs231n.layers`), written in our own words
for handgrad's tests, with one mistake: ``softmax_loss`` does not subtract the row maximum.

exp overflows for large scores, and the loss and dx become inf or nan.
"""

from cs231n.layers import *


def softmax_loss(x, y):
    N = x.shape[0]
    exp_x = np.exp(x)
    sum_exp = np.sum(exp_x, axis=1, keepdims=True)
    log_probs = x - np.log(sum_exp)
    probs = exp_x / sum_exp
    loss = -np.sum(log_probs[np.arange(N), y]) / N
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx
