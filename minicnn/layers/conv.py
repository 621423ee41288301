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

The batch is processed a few images at a time (minicnn/parallel.py spreads these
chunks over the cores): the chunk's X_col is small enough to stay in the core's cache
while its matrix products read it, and backward gathers it again from x instead of
keeping the whole batch's X_col (9× the input) in memory.  dL/dW and dL/db are sums
over the chunks, added in a fixed order (minicnn.parallel.sum_over_chunks).  The matrix products go to BLAS; the
gathers, scatters and reorderings are the Numba kernels ``im2col``, ``col2im``,
``rows_to_nchw`` and ``nchw_to_rows`` (minicnn/kernels.py), whose readable NumPy
twins are in minicnn/reference.py.

3×3 stride-1 convolutions with at least WINOGRAD_MIN_CHANNELS input channels take
Winograd's F(2×2, 3×3) instead (minicnn/winograd.py, docs/winograd.md): the same
result up to rounding with 2.25× fewer multiplications.  ``layer.algorithm`` picks
one by hand ("im2col", "winograd" or the default "auto").
"""
import numpy as np

from .. import kernels, parallel, winograd
from .base import Layer, as_rng, he_normal


WINOGRAD_MIN_CHANNELS = 8     # below this, its many small matrix products cost more than they save


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
        self.algorithm = "auto"      # not saved: every algorithm computes the same convolution

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
        x = np.ascontiguousarray(x)
        self._x = x
        if self._uses_winograd():
            y, self._U = winograd.conv3x3_forward(x, self.params["weight"], self.params["bias"], p)
            return y
        F, K, P = self.out_channels, C * k * k, Ho * Wo
        w_mat, bias = self.params["weight"].reshape(F, K), self.params["bias"]
        y = np.empty((N, F, P), dtype=x.dtype)

        def forward_chunk(lo, hi):
            cols = parallel.scratch("cols", (K, hi - lo, P), x.dtype)
            kernels.im2col(x[lo:hi], k, k, s, p, cols)
            rows = parallel.scratch("rows", (F, (hi - lo) * P), x.dtype)
            np.matmul(w_mat, cols.reshape(K, -1), out=rows)
            kernels.rows_to_nchw(rows.reshape(F, hi - lo, P), bias, y[lo:hi])

        parallel.for_each_chunk(forward_chunk, N, self._images_per_chunk(N, P))
        return y.reshape(N, F, Ho, Wo)

    def backward(self, dy):
        x, k, s, p = self._x, self.kernel_size, self.stride, self.padding
        if self._uses_winograd():
            dx, dw, db = winograd.conv3x3_backward(x, np.ascontiguousarray(dy), self._U, p)
            self.grads["weight"][...] = dw
            self.grads["bias"][...] = db
            return dx
        N, C = x.shape[:2]
        F, K, P = self.out_channels, C * k * k, dy.shape[2] * dy.shape[3]
        w_mat = self.params["weight"].reshape(F, K)
        dy = np.ascontiguousarray(dy).reshape(N, F, P)
        dx = np.empty_like(x)

        def backward_chunk(lo, hi):
            cols = parallel.scratch("cols", (K, hi - lo, P), x.dtype)
            kernels.im2col(x[lo:hi], k, k, s, p, cols)
            cols = cols.reshape(K, -1)
            dy_rows = parallel.scratch("rows", (F, (hi - lo) * P), dy.dtype)
            kernels.nchw_to_rows(dy[lo:hi], dy_rows.reshape(F, hi - lo, P))
            dcols = np.matmul(w_mat.T, dy_rows, out=parallel.scratch("dcols", (K, (hi - lo) * P), dy.dtype))
            kernels.col2im(dcols.reshape(K, hi - lo, P), k, k, s, p, dx[lo:hi])
            return np.matmul(dy_rows, cols.T, out=parallel.scratch("dw", (F, K), dy.dtype)), dy_rows.sum(axis=1)

        dw, db = parallel.sum_over_chunks(backward_chunk, N, self._images_per_chunk(N, P))
        self.grads["weight"][...] = dw.reshape(self.grads["weight"].shape)
        self.grads["bias"][...] = db
        return dx

    def _uses_winograd(self):
        fits = self.kernel_size == 3 and self.stride == 1
        if self.algorithm == "auto":
            return fits and self.in_channels >= WINOGRAD_MIN_CHANNELS
        if self.algorithm not in ("im2col", "winograd"):
            raise ValueError(f"Conv2D.algorithm must be 'auto', 'im2col' or 'winograd', got {self.algorithm!r}")
        if self.algorithm == "winograd" and not fits:
            raise ValueError("Conv2D.algorithm 'winograd' needs a 3x3 kernel with stride 1")
        return self.algorithm == "winograd"

    @staticmethod
    def _images_per_chunk(N, P):
        # enough output pixels per chunk (≥ 256 columns) for BLAS to run near its peak
        return parallel.chunk_size(N, -(-256 // P))
