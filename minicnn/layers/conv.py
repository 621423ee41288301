"""2-D convolution (cross-correlation, as in every deep-learning framework).

Shapes: x (N, C, H, W), weight (F, C, KH, KW), bias (F,), y (N, F, Ho, Wo) with
    Ho = (H + 2·pad − KH) // stride + 1,   Wo = (W + 2·pad − KW) // stride + 1.

Forward:
    y[n, f, oh, ow] = b[f] + Σ_{c,i,j} W[f, c, i, j] · xp[n, c, oh·s + i, ow·s + j]
where xp is x zero-padded by ``pad`` on each side.

im2col turns that into matrix products.  Gather every receptive field of the
batch into a column of  X_col (C·KH·KW, N·Ho·Wo)  and reshape the filters into
W_mat (F, C·KH·KW):
    Y = W_mat · X_col + b                (F, N·Ho·Wo)   then reorder to (N, F, Ho, Wo).

Backward, with dY the (F, N·Ho·Wo) reordering of dL/dy:
    dL/db     = Σ_columns dY                      (F,)
    dL/dW_mat = dY · X_colᵀ                       (F, C·KH·KW)
    dL/dX_col = W_matᵀ · dY                       (C·KH·KW, N·Ho·Wo)
    dL/dx     = col2im(dL/dX_col) — each tap adds its gradient back to the pixel it read.

The matrix products go to BLAS; the gathers, scatters and reorderings are the
Numba kernels ``im2col``, ``col2im``, ``rows_to_nchw`` and ``nchw_to_rows``
(minicnn/kernels.py), whose readable NumPy twins are in minicnn/reference.py.
"""
import numpy as np

from .. import kernels
from .base import Layer, as_rng, he_normal


def conv_output_size(size, kernel, stride, pad):
    return (size + 2 * pad - kernel) // stride + 1


class Conv2D(Layer):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, rng=None):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        fan_in = in_channels * kernel_size * kernel_size
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self._add_param("weight", he_normal(as_rng(rng), shape, fan_in))
        self._add_param("bias", np.zeros(out_channels, dtype=self.params["weight"].dtype))
        self._cols = None          # im2col workspace, reused while the input shape is unchanged

    def config(self):
        return dict(in_channels=self.in_channels, out_channels=self.out_channels,
                    kernel_size=self.kernel_size, stride=self.stride, padding=self.padding)

    def forward(self, x, training=False):
        N, C, H, W = x.shape
        if C != self.in_channels:
            raise ValueError(f"Conv2D expects {self.in_channels} input channels, got {C}")
        k, s, p = self.kernel_size, self.stride, self.padding
        Ho, Wo = conv_output_size(H, k, s, p), conv_output_size(W, k, s, p)
        if Ho < 1 or Wo < 1:
            raise ValueError(f"Conv2D({k}, stride={s}, padding={p}) cannot take a {H}x{W} input")
        cols_shape = (C * k * k, N, Ho * Wo)
        if self._cols is None or self._cols.shape != cols_shape or self._cols.dtype != x.dtype:
            self._cols = np.empty(cols_shape, dtype=x.dtype)
        kernels.im2col(np.ascontiguousarray(x), k, k, s, p, self._cols)
        rows = self.params["weight"].reshape(self.out_channels, -1) @ self._cols.reshape(cols_shape[0], -1)
        y = np.empty((N, self.out_channels, Ho * Wo), dtype=x.dtype)
        kernels.rows_to_nchw(rows.reshape(self.out_channels, N, -1), self.params["bias"], y)
        self._x_shape = x.shape
        return y.reshape(N, self.out_channels, Ho, Wo)

    def backward(self, dy):
        N = dy.shape[0]
        k, s, p = self.kernel_size, self.stride, self.padding
        w_mat = self.params["weight"].reshape(self.out_channels, -1)
        dy_rows = np.empty((self.out_channels, N, dy.shape[2] * dy.shape[3]), dtype=dy.dtype)
        kernels.nchw_to_rows(np.ascontiguousarray(dy).reshape(N, self.out_channels, -1), dy_rows)
        dy_rows = dy_rows.reshape(self.out_channels, -1)
        cols = self._cols.reshape(self._cols.shape[0], -1)
        self.grads["bias"][...] = dy_rows.sum(axis=1)
        np.matmul(dy_rows, cols.T, out=self.grads["weight"].reshape(w_mat.shape))
        dcols = (w_mat.T @ dy_rows).reshape(self._cols.shape)
        dx = np.empty(self._x_shape, dtype=dy.dtype)
        kernels.col2im(dcols, k, k, s, p, dx)
        return dx
