"""Element-wise activations and the reshape that joins conv and dense layers.

ReLU        y = max(x, 0)                  dx = dy · [x > 0]
LeakyReLU   y = x if x > 0 else α·x        dx = dy · (1 if x > 0 else α)
Flatten     (N, C, H, W) → (N, C·H·W)      dx = dy reshaped back
Shapes are unchanged by the activations.  ReLU's fast form runs on the Numba kernels
relu_forward/relu_backward, a chunk of the array per core.
"""
import math

import numpy as np

from .. import kernels, parallel
from ..arrays import array_module
from .base import Layer


class ReLU(Layer):
    def array_forward(self, x, training=False):
        self._y = array_module(x).maximum(x, 0)
        return self._y

    def array_backward(self, dy):
        return dy * (self._y > 0)

    def kernel_forward(self, x, training=False):
        x = np.ascontiguousarray(x)
        self._y = np.empty_like(x)
        flat_x, flat_y = x.reshape(-1), self._y.reshape(-1)
        parallel.for_each_chunk(lambda lo, hi: kernels.relu_forward(flat_x[lo:hi], flat_y[lo:hi]),
                                x.size, parallel.chunk_by_size(x.size, 1, parallel.CHUNK_ELEMENTS // 2))
        return self._y

    def kernel_backward(self, dy):
        dy = np.ascontiguousarray(dy)
        dx = np.empty_like(dy)
        flat_dy, flat_y, flat_dx = dy.reshape(-1), self._y.reshape(-1), dx.reshape(-1)
        parallel.for_each_chunk(lambda lo, hi: kernels.relu_backward(flat_dy[lo:hi], flat_y[lo:hi], flat_dx[lo:hi]),
                                dy.size, parallel.chunk_by_size(dy.size, 1, parallel.CHUNK_ELEMENTS // 2))
        return dx


class LeakyReLU(Layer):
    def __init__(self, alpha=0.01):
        super().__init__()
        if not (isinstance(alpha, (int, float)) and abs(alpha) <= 1):
            raise ValueError(f"LeakyReLU alpha must be a number in [-1, 1], got {alpha!r}")
        self.alpha = alpha

    def config(self):
        return dict(alpha=self.alpha)

    def array_forward(self, x, training=False):
        self._slope = array_module(x).where(x > 0, x.dtype.type(1), x.dtype.type(self.alpha))
        return x * self._slope

    def array_backward(self, dy):
        return dy * self._slope


class Flatten(Layer):
    def array_forward(self, x, training=False):
        self._x_shape = x.shape
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))

    def array_backward(self, dy):
        return dy.reshape(self._x_shape)
