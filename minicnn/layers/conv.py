"""2-D convolution (cross-correlation, as in every deep-learning framework).

Shapes: x (N, C, H, W), weight (F, C, KH, KW), bias (F,), y (N, F, Ho, Wo) with
    Ho = (H + 2·pad − KH) // stride + 1,   Wo = (W + 2·pad − KW) // stride + 1.

Forward:
    y[n, f, oh, ow] = b[f] + Σ_{c,i,j} W[f, c, i, j] · xp[n, c, oh·s + i, ow·s + j]
where xp is x zero-padded by ``pad`` on each side.

im2col turns that into matrix products.  Gather every receptive field of image n
into a column of  X_col[n] (C·KH·KW, Ho·Wo)  and reshape the filters into
W_mat (F, C·KH·KW):
    Y[n] = W_mat · X_col[n] + b          (F, Ho·Wo)  — already image n's NCHW output.

Backward, with dY[n] the (F, Ho·Wo) view of dL/dy for image n:
    dL/db       = Σ_n Σ_p dY[n][:, p]                (F,)
    dL/dW_mat   = Σ_n dY[n] · X_col[n]ᵀ              (F, C·KH·KW)
    dL/dX_col[n] = W_matᵀ · dY[n]                    (C·KH·KW, Ho·Wo)
    dL/dx       = col2im(dL/dX_col) — each tap adds its gradient back to the pixel it read.

The matrix products go to BLAS; the gather and scatter are the Numba kernels
``im2col`` and ``col2im`` (minicnn/kernels.py), whose readable NumPy twins are in
minicnn/reference.py.
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
        cols_shape = (N, C * k * k, Ho * Wo)
        if self._cols is None or self._cols.shape != cols_shape or self._cols.dtype != x.dtype:
            self._cols = np.empty(cols_shape, dtype=x.dtype)
        kernels.im2col(np.ascontiguousarray(x), k, k, s, p, self._cols)
        y = np.matmul(self.params["weight"].reshape(self.out_channels, -1), self._cols)
        kernels.add_channel_bias(y, self.params["bias"])
        self._x_shape = x.shape
        return y.reshape(N, self.out_channels, Ho, Wo)

    def backward(self, dy):
        N = dy.shape[0]
        k, s, p = self.kernel_size, self.stride, self.padding
        w_mat = self.params["weight"].reshape(self.out_channels, -1)
        dy = np.ascontiguousarray(dy).reshape(N, self.out_channels, -1)
        self.grads["bias"][...] = dy.sum(axis=2).sum(axis=0)
        dw = self.grads["weight"].reshape(w_mat.shape)
        np.matmul(dy[0], self._cols[0].T, out=dw)
        for n in range(1, N):
            dw += dy[n] @ self._cols[n].T
        dcols = np.matmul(w_mat.T, dy)
        dx = np.empty(self._x_shape, dtype=dy.dtype)
        kernels.col2im(dcols, k, k, s, p, dx)
        return dx
