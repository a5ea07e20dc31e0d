"""manual without its second-order products: a first-order candidate for the throughput
benchmarks (``load_candidate("benchmarks.first_order")``). The gate finds a product only
where a module defines or exports one, and this module exports none."""

from manual import Forward, Gradients, Params, backward, cross_entropy, forward, softmax_jacobian

__all__ = ["Forward", "Gradients", "Params", "backward", "cross_entropy", "forward",
           "softmax_jacobian"]  # fmt: skip
