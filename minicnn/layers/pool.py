"""Pooling: downsample each channel independently.

Shapes: x (N, C, H, W) → y (N, C, Ho, Wo), Ho = (H − k) // s + 1 (floor, no padding);
the stride s defaults to the window size k (non-overlapping windows).

Max pooling
    forward   y[n,c,oh,ow] = max_{i,j<k} x[n, c, oh·s+i, ow·s+j]
    backward  dx[n,c,h,w]  = Σ over windows whose max sat at (h, w) of dy
              (the winner's place i·k + j in its window is kept, ``argmax``, one
              byte per output; ties go to the first element in row-major order).
    A ReLU before it: max is monotone, so maxpool(relu(x)) = relu(maxpool(x)), and
    forward(x, relu=True) applies the ReLU to the k²× smaller output; an output it cuts
    to 0 keeps no winner (kernels.NO_WINNER) and passes no gradient back — the ReLU's
    own backward, dx = dy where relu(x) > 0.
Average pooling
    forward   y = (1/k²) Σ_{i,j<k} x[n, c, oh·s+i, ow·s+j]
    backward  every input of a window receives dy / k².
Global average pooling
    forward   y[n,c] = mean_{h,w} x[n,c,h,w]      (N, C)
    backward  dx[n,c,h,w] = dy[n,c] / (H·W)

The whole-array form reads each of the k·k window offsets as one strided slice of the input (all
windows at once); the fast form runs the Numba kernels maxpool_*/avgpool_*, a chunk of images per core.
"""
import numpy as np

from .. import kernels, parallel
from ..arrays import array_module
from .base import Layer, check_int
from .conv import conv_output_size, window_slices


class _Pool2D(Layer):
    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel_size = check_int(type(self).__name__, "kernel_size", kernel_size, 1, 15)
        self.stride = kernel_size if stride is None else check_int(type(self).__name__, "stride", stride, 1)

    def config(self):
        return dict(kernel_size=self.kernel_size, stride=self.stride)

    def _output_size(self, x):
        """(Ho, Wo); ValueError for an input smaller than the window.  Remembers x's shape for backward."""
        H, W = x.shape[2:]
        k, s = self.kernel_size, self.stride
        if H < k or W < k:
            raise ValueError(f"{type(self).__name__}({k}) needs inputs of at least {k}x{k}, got {H}x{W}")
        self._x_shape = x.shape
        return conv_output_size(H, k, s, 0), conv_output_size(W, k, s, 0)

    def _windows(self, x):
        """For every offset of the window, the slices of x it reads across all outputs."""
        return window_slices(self.kernel_size, self.stride, *self._output_size(x))

    def _output(self, x):
        return np.empty(x.shape[:2] + self._output_size(x), dtype=x.dtype)

    def _for_each_image_chunk(self, fn, smallest_elements=1):
        """fn(lo, hi) over chunks of the batch, each about 128 KiB of input (at least ``smallest_elements``)."""
        N, C, H, W = self._x_shape
        parallel.for_each_chunk(fn, N, parallel.chunk_by_size(N, C * H * W, smallest_elements))


# Max-pooling without winners is bound by memory, not by the core: measured on a 2-core Xeon, a second core
# gained nothing up to 64 images of 32×48×48 (4.7 M inputs) and, woken for less, cost more than it did.
VALUES_PER_CORE = 1 << 22


class MaxPool2D(_Pool2D):
    commutes_with_relu = True

    def array_forward(self, x, training=False):
        xp = array_module(x)
        N, C, H, W = x.shape
        k = self.kernel_size
        if self.stride == k and H % k == 0 and W % k == 0:
            # windows that tile the image: one reshaped copy, (N, C, Ho, Wo, k·k), window entries in row-major order
            self._output_size(x)
            taps = x.reshape(N, C, H // k, k, W // k, k).transpose(0, 1, 2, 4, 3, 5).reshape(N, C, H // k, W // k,
                                                                                               k * k)
            self._window_list, self._argmax = None, taps.argmax(axis=-1)     # the first maximum wins, as in kernels
            return taps.max(axis=-1)
        self._window_list = self._windows(x)
        taps = xp.stack([x[:, :, rows, cols] for rows, cols in self._window_list])      # (k·k, N, C, Ho, Wo)
        self._argmax = taps.argmax(axis=0)
        return taps.max(axis=0)

    def array_backward(self, dy):
        xp = array_module(dy)
        if self._window_list is None:                         # the tiling windows: dy to each window's winner
            N, C, Ho, Wo = dy.shape
            k = self.kernel_size
            routed = (self._argmax[..., None] == xp.arange(k * k)) * dy[..., None]
            return routed.reshape(N, C, Ho, Wo, k, k).transpose(0, 1, 2, 4, 3, 5).reshape(self._x_shape)
        dx = xp.zeros(self._x_shape, dtype=dy.dtype)
        for t, (rows, cols) in enumerate(self._window_list):
            dx[:, :, rows, cols] += xp.where(self._argmax == t, dy, 0)
        return dx

    def kernel_forward(self, x, training=False, relu=False, keep_winners=True):
        """keep_winners=False: for inference, no backward follows (minicnn.model.Predictor), so the winners'
        places are not kept, and the loop runs up to 4.5× faster (one image of 32×48×48: 37 → 8 µs)."""
        y = self._output(x)
        x, k, s = np.ascontiguousarray(x), self.kernel_size, self.stride
        if not keep_winners:
            self._argmax = None
            self._for_each_image_chunk(lambda lo, hi: kernels.maxpool_values(x[lo:hi], k, s, relu, y[lo:hi]),
                                       VALUES_PER_CORE)
            return y
        self._argmax = np.empty(y.shape, dtype=np.uint8)
        self._for_each_image_chunk(lambda lo, hi: kernels.maxpool_forward(x[lo:hi], k, s, relu, y[lo:hi],
                                                                          self._argmax[lo:hi]))
        return y

    def kernel_backward(self, dy):
        if self._argmax is None:
            raise RuntimeError("MaxPool2D.backward after forward(keep_winners=False), which is for inference only")
        dx = np.empty(self._x_shape, dtype=dy.dtype)
        dy = np.ascontiguousarray(dy)
        k, s = self.kernel_size, self.stride
        self._for_each_image_chunk(lambda lo, hi: kernels.maxpool_backward(dy[lo:hi], self._argmax[lo:hi], k, s,
                                                                           dx[lo:hi]))
        return dx


class AvgPool2D(_Pool2D):
    def array_forward(self, x, training=False):
        self._window_list = self._windows(x)
        return sum(x[:, :, rows, cols] for rows, cols in self._window_list) / x.dtype.type(len(self._window_list))

    def array_backward(self, dy):
        xp = array_module(dy)
        dx, share = xp.zeros(self._x_shape, dtype=dy.dtype), dy / dy.dtype.type(len(self._window_list))
        for rows, cols in self._window_list:
            dx[:, :, rows, cols] += share
        return dx

    def kernel_forward(self, x, training=False):
        y = self._output(x)
        x, k, s = np.ascontiguousarray(x), self.kernel_size, self.stride
        self._for_each_image_chunk(lambda lo, hi: kernels.avgpool_forward(x[lo:hi], k, s, y[lo:hi]))
        return y

    def kernel_backward(self, dy):
        dx = np.empty(self._x_shape, dtype=dy.dtype)
        dy, k, s = np.ascontiguousarray(dy), self.kernel_size, self.stride
        self._for_each_image_chunk(lambda lo, hi: kernels.avgpool_backward(dy[lo:hi], k, s, dx[lo:hi]))
        return dx


class GlobalAvgPool2D(Layer):
    def array_forward(self, x, training=False):
        self._x_shape = x.shape
        return x.mean(axis=(2, 3), dtype=x.dtype)

    def array_backward(self, dy):
        N, C, H, W = self._x_shape
        scale = dy.dtype.type(1.0 / (H * W))
        return array_module(dy).broadcast_to((dy * scale)[:, :, None, None], self._x_shape).copy()
