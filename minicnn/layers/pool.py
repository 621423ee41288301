"""Pooling: downsample each channel independently.

Shapes: x (N, C, H, W) → y (N, C, Ho, Wo), Ho = (H − k) // s + 1 (floor, no padding);
the stride s defaults to the window size k (non-overlapping windows).

Max pooling
    forward   y[n,c,oh,ow] = max_{i,j<k} x[n, c, oh·s+i, ow·s+j]
    backward  dx[n,c,h,w]  = Σ over windows whose max sat at (h, w) of dy
              (the winner's position is kept as a flat index, ``argmax``; ties go
              to the first element in row-major order).
Average pooling
    forward   y = (1/k²) Σ_{i,j<k} x[n, c, oh·s+i, ow·s+j]
    backward  every input of a window receives dy / k².
Global average pooling
    forward   y[n,c] = mean_{h,w} x[n,c,h,w]      (N, C)
    backward  dx[n,c,h,w] = dy[n,c] / (H·W)
"""
import numpy as np

from .. import kernels
from .base import Layer
from .conv import conv_output_size


class _Pool2D(Layer):
    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride

    def config(self):
        return dict(kernel_size=self.kernel_size, stride=self.stride)

    def _output(self, x):
        N, C, H, W = x.shape
        k, s = self.kernel_size, self.stride
        if H < k or W < k:
            raise ValueError(f"{type(self).__name__}({k}) needs inputs of at least {k}x{k}, got {H}x{W}")
        self._x_shape = x.shape
        return np.empty((N, C, conv_output_size(H, k, s, 0), conv_output_size(W, k, s, 0)), dtype=x.dtype)


class MaxPool2D(_Pool2D):
    def forward(self, x, training=False):
        y = self._output(x)
        self._argmax = np.empty(y.shape, dtype=np.int32)
        kernels.maxpool_forward(np.ascontiguousarray(x), self.kernel_size, self.stride, y, self._argmax)
        return y

    def backward(self, dy):
        dx = np.empty(self._x_shape, dtype=dy.dtype)
        kernels.maxpool_backward(np.ascontiguousarray(dy), self._argmax, dx)
        return dx


class AvgPool2D(_Pool2D):
    def forward(self, x, training=False):
        y = self._output(x)
        kernels.avgpool_forward(np.ascontiguousarray(x), self.kernel_size, self.stride, y)
        return y

    def backward(self, dy):
        dx = np.empty(self._x_shape, dtype=dy.dtype)
        kernels.avgpool_backward(np.ascontiguousarray(dy), self.kernel_size, self.stride, dx)
        return dx


class GlobalAvgPool2D(Layer):
    def forward(self, x, training=False):
        self._x_shape = x.shape
        return x.mean(axis=(2, 3), dtype=x.dtype)

    def backward(self, dy):
        N, C, H, W = self._x_shape
        scale = dy.dtype.type(1.0 / (H * W))
        return np.broadcast_to((dy * scale)[:, :, None, None], self._x_shape).copy()
