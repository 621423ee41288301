"""Pooling: downsample each channel independently.

Shapes: x (N, C, H, W) → y (N, C, Ho, Wo), Ho = (H − k) // s + 1 (floor, no padding);
the stride s defaults to the window size k (non-overlapping windows).

Max pooling
    forward   y[n,c,oh,ow] = max_{i,j<k} x[n, c, oh·s+i, ow·s+j]
    backward  dx[n,c,h,w]  = Σ over windows whose max sat at (h, w) of dy
              (the winner's place i·k + j in its window is kept, ``argmax``, one
              byte per output; ties go to the first element in row-major order).
Average pooling
    forward   y = (1/k²) Σ_{i,j<k} x[n, c, oh·s+i, ow·s+j]
    backward  every input of a window receives dy / k².
Global average pooling
    forward   y[n,c] = mean_{h,w} x[n,c,h,w]      (N, C)
    backward  dx[n,c,h,w] = dy[n,c] / (H·W)
"""
import numpy as np

from .. import kernels, parallel
from .base import Layer, check_int
from .conv import conv_output_size


class _Pool2D(Layer):
    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel_size = check_int(type(self).__name__, "kernel_size", kernel_size, 1, 15)
        self.stride = kernel_size if stride is None else check_int(type(self).__name__, "stride", stride, 1)

    def config(self):
        return dict(kernel_size=self.kernel_size, stride=self.stride)

    def _output(self, x):
        N, C, H, W = x.shape
        k, s = self.kernel_size, self.stride
        if H < k or W < k:
            raise ValueError(f"{type(self).__name__}({k}) needs inputs of at least {k}x{k}, got {H}x{W}")
        self._x_shape = x.shape
        return np.empty((N, C, conv_output_size(H, k, s, 0), conv_output_size(W, k, s, 0)), dtype=x.dtype)


    def _for_each_image_chunk(self, fn):
        """fn(lo, hi) over chunks of the batch, each about 128 KiB of input."""
        N, per_image = self._x_shape[0], int(np.prod(self._x_shape[1:]))
        parallel.for_each_chunk(fn, N, parallel.chunk_by_size(N, per_image))


class MaxPool2D(_Pool2D):
    def forward(self, x, training=False):
        y = self._output(x)
        x, k, s = np.ascontiguousarray(x), self.kernel_size, self.stride
        self._argmax = np.empty(y.shape, dtype=np.uint8)
        self._for_each_image_chunk(lambda lo, hi: kernels.maxpool_forward(x[lo:hi], k, s, y[lo:hi],
                                                                          self._argmax[lo:hi]))
        return y

    def backward(self, dy):
        dx = np.empty(self._x_shape, dtype=dy.dtype)
        dy = np.ascontiguousarray(dy)
        k, s = self.kernel_size, self.stride
        self._for_each_image_chunk(lambda lo, hi: kernels.maxpool_backward(dy[lo:hi], self._argmax[lo:hi], k, s,
                                                                           dx[lo:hi]))
        return dx


class AvgPool2D(_Pool2D):
    def forward(self, x, training=False):
        y = self._output(x)
        x, k, s = np.ascontiguousarray(x), self.kernel_size, self.stride
        self._for_each_image_chunk(lambda lo, hi: kernels.avgpool_forward(x[lo:hi], k, s, y[lo:hi]))
        return y

    def backward(self, dy):
        dx = np.empty(self._x_shape, dtype=dy.dtype)
        dy, k, s = np.ascontiguousarray(dy), self.kernel_size, self.stride
        self._for_each_image_chunk(lambda lo, hi: kernels.avgpool_backward(dy[lo:hi], k, s, dx[lo:hi]))
        return dx


class GlobalAvgPool2D(Layer):
    def forward(self, x, training=False):
        self._x_shape = x.shape
        return x.mean(axis=(2, 3), dtype=x.dtype)

    def backward(self, dy):
        N, C, H, W = self._x_shape
        scale = dy.dtype.type(1.0 / (H * W))
        return np.broadcast_to((dy * scale)[:, :, None, None], self._x_shape).copy()
