"""2-D convolution (cross-correlation, as in every deep-learning framework).

Shapes: x (N, C, H, W), weight (F, C, KH, KW), bias (F,), y (N, F, Ho, Wo) with
    Ho = (H + 2·pad − KH) // stride + 1,   Wo = (W + 2·pad − KW) // stride + 1.

Forward:
    y[n, f, oh, ow] = b[f] + Σ_{c,i,j} W[f, c, i, j] · xp[n, c, oh·s + i, ow·s + j]
where xp is x zero-padded by ``pad`` on each side.

im2col turns that into one matrix product.  Gather every receptive field of the
batch into a column of  X_col (C·KH·KW, N·Ho·Wo)  and reshape the filters into
W_mat (F, C·KH·KW):
    Y = W_mat · X_col + b                (F, N·Ho·Wo)   then reorder to (N, F, Ho, Wo).
Each tap (c, i, j) of the window reads, across all outputs, one strided slice of xp, so X_col is a
strided view of xp copied once.

Backward, with dY the (F, N·Ho·Wo) reordering of dL/dy:
    dL/db     = Σ_columns dY                      (F,)
    dL/dW_mat = dY · X_colᵀ                       (F, C·KH·KW)
    dL/dX_col = W_matᵀ · dY                       (C·KH·KW, N·Ho·Wo)
    dL/dx     = col2im(dL/dX_col) — each tap adds its gradient back to the pixel it read.
For stride 1, dL/dx is itself a convolution: of dy, padded by k − 1 − pad, with the filters
turned by 180° and their in and out channels swapped,
    dx[n, c, h, w] = Σ_{f,i,j} dy_padded[n, f, h + i, w + j] · W[f, c, k−1−i, k−1−j],
one im2col and one product instead of col2im's k·k scattered additions.

``array_forward``/``array_backward`` below are these equations in whole-array NumPy (they run on a
GPU through CuPy as they stand).  On the CPU, ``kernel_forward``/``kernel_backward`` compute the
same convolution with minicnn/conv_cpu.py: a few images at a time per core, with im2col, Winograd's
F(2×2, 3×3), F(3×3, 3×3) or F(4×4, 3×3), or the direct sum, whichever is fastest for the layer
(``layer.algorithm`` picks one by hand: "im2col", "winograd" (its tile chosen by the output's size),
"winograd2x2", "winograd3x3", "winograd4x4", "direct", or the default "auto").  They also take inference-only
options: ``relu=True`` applies max(·, 0) as the output is written, and ``affine=(s, t)`` multiplies
each output channel f by s[f] and adds t[f] — a BatchNorm that follows is exactly such an affine at
inference (BatchNorm.inference_affine), so Sequential.predict folds it in, and a following ReLU,
saving a pass over memory each.
"""
import numpy as np

from .. import conv_cpu
from ..arrays import array_module
from .base import Layer, as_rng, check_int, he_normal

MAX_PADDING = 64              # wider borders are only zeros, and let a crafted model file ask for huge outputs


def conv_output_size(size, kernel, stride, pad):
    return (size + 2 * pad - kernel) // stride + 1


def window_slices(k, stride, Ho, Wo):
    """For every offset (i, j) of a k×k window, the slices of the input it reads across all outputs."""
    return [(slice(i, i + stride * (Ho - 1) + 1, stride), slice(j, j + stride * (Wo - 1) + 1, stride))
            for i in range(k) for j in range(k)]


def im2col(x, k, stride, pad, Ho, Wo):
    """X_col (C·k·k, N·Ho·Wo): row (c, i, j), column (n, oh, ow) holds x_padded[n, c, oh·s + i, ow·s + j]."""
    xp = array_module(x)
    N, C = x.shape[:2]
    padded = xp.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
    sN, sC, sH, sW = padded.strides
    windows = xp.lib.stride_tricks.as_strided(padded, (C, k, k, N, Ho, Wo),
                                              (sC, sH, sW, sN, stride * sH, stride * sW))
    return windows.reshape(C * k * k, N * Ho * Wo)


def col2im(dcols, shape, k, stride, pad, Ho, Wo):
    """The adjoint of im2col: each tap's gradient added back to the pixel it read."""
    xp = array_module(dcols)
    N, C, H, W = shape
    taps = dcols.reshape(C, k * k, N, Ho, Wo)
    padded = xp.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=dcols.dtype)
    for t, (rows, cols) in enumerate(window_slices(k, stride, Ho, Wo)):
        padded[:, :, rows, cols] += taps[:, t].transpose(1, 0, 2, 3)
    return padded[:, :, pad:pad + H, pad:pad + W]


class Conv2D(Layer):
    fuses_relu = skips_input_grad = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, rng=None):
        super().__init__()
        shapes = self.state_shapes(in_channels, out_channels, kernel_size, stride, padding)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        fan_in = in_channels * kernel_size * kernel_size
        self._add_param("weight", he_normal(as_rng(rng), shapes["weight"], fan_in))
        self._add_param("bias", np.zeros(shapes["bias"], dtype=self.params["weight"].dtype))
        self.algorithm = "auto"      # not saved: every algorithm computes the same convolution

    @staticmethod
    def state_shapes(in_channels, out_channels, kernel_size, stride=1, padding=0):
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("kernel_size", kernel_size), ("stride", stride)):
            check_int("Conv2D", name, value, 1)
        check_int("Conv2D", "padding", padding, 0, MAX_PADDING)
        return {"weight": (out_channels, in_channels, kernel_size, kernel_size), "bias": (out_channels,)}

    def config(self):
        return dict(in_channels=self.in_channels, out_channels=self.out_channels,
                    kernel_size=self.kernel_size, stride=self.stride, padding=self.padding)

    def output_size(self, x):
        """(Ho, Wo) for input x; ValueError for an input that does not fit."""
        N, C, H, W = x.shape
        if C != self.in_channels:
            raise ValueError(f"Conv2D expects {self.in_channels} input channels, got {C}")
        k, s, p = self.kernel_size, self.stride, self.padding
        Ho, Wo = conv_output_size(H, k, s, p), conv_output_size(W, k, s, p)
        if Ho < 1 or Wo < 1:
            raise ValueError(f"Conv2D({k}, stride={s}, padding={p}) cannot take a {H}x{W} input")
        return Ho, Wo

    # --- the equations, whole-array --------------------------------------------------------------------

    def array_forward(self, x, training=False):
        N = x.shape[0]
        Ho, Wo = self.output_size(x)
        F, w = self.out_channels, self.params["weight"]
        cols = im2col(x, self.kernel_size, self.stride, self.padding, Ho, Wo)
        rows = w.reshape(F, -1) @ cols + self.params["bias"].reshape(F, 1)                  # (F, N·Ho·Wo)
        self._x_shape, self._cols = x.shape, cols
        return rows.reshape(F, N, Ho, Wo).transpose(1, 0, 2, 3)

    def array_backward(self, dy):
        F, w, k, p = self.out_channels, self.params["weight"], self.kernel_size, self.padding
        N, C, H, W = self._x_shape
        Ho, Wo = dy.shape[2:]
        dy_rows = dy.transpose(1, 0, 2, 3).reshape(F, -1)                                    # (F, N·Ho·Wo)
        self.grads["weight"] += (dy_rows @ self._cols.T).reshape(w.shape)
        self.grads["bias"] += dy_rows.sum(axis=1)
        if self.stride == 1 and p < k:            # dx as the convolution of dy with the turned filters
            cols = im2col(dy, k, 1, k - 1 - p, H, W)                                         # (F·k·k, N·H·W)
            turned = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(C, F * k * k)
            return (turned @ cols).reshape(C, N, H, W).transpose(1, 0, 2, 3)
        return col2im(w.reshape(F, -1).T @ dy_rows, self._x_shape, k, self.stride, p, Ho, Wo)

    # --- the CPU's fast form ---------------------------------------------------------------------------

    def kernel_forward(self, x, training=False, relu=False, affine=None, transformed=None):
        y, self._saved = conv_cpu.forward(self, x, relu, affine, transformed)
        return y

    def kernel_backward(self, dy, input_grad=True):
        return conv_cpu.backward(self, dy, self._saved, input_grad)
