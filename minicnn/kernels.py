"""Numba-compiled kernels for the hot loops of minicnn.

Every kernel here has a plain-NumPy twin of the same name in ``minicnn.reference``;
the tests check that the two agree.  Kernels write into caller-provided output
arrays so layers can reuse buffers, and they never change dtypes (float32 stays
float32).  Layout conventions:

* images are NCHW;
* ``cols`` is the im2col tensor, shape (N, C*KH*KW, Ho*Wo): for each image one
  row per input tap (c, i, j) and one column per output pixel (oh, ow), so that
  ``W.reshape(F, -1) @ cols`` is already the NCHW output, and the inner loops of
  the gathers walk contiguous memory.
"""
import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _valid_range(out_size, in_size, stride, pad, offset):
    """Output positions o in [lo, hi) whose input o*stride - pad + offset lies inside [0, in_size)."""
    lo = max(0, (pad - offset + stride - 1) // stride)
    hi = min(out_size, (in_size - 1 + pad - offset) // stride + 1)
    return lo, max(lo, hi)


@njit(parallel=True, cache=True)
def im2col(x, kh, kw, stride, pad, cols):
    """x (N, C, H, W) -> cols (N, C*kh*kw, Ho*Wo); taps outside the image are 0."""
    N, C, H, W = x.shape
    Ho = (H + 2 * pad - kh) // stride + 1
    Wo = (W + 2 * pad - kw) // stride + 1
    for nc in prange(N * C):
        n = nc // C
        c = nc % C
        plane = x[n, c]
        for i in range(kh):
            for j in range(kw):
                row = cols[n, (c * kh + i) * kw + j]
                ow_lo, ow_hi = _valid_range(Wo, W, stride, pad, j)
                for oh in range(Ho):
                    ih = oh * stride - pad + i
                    base = oh * Wo
                    if ih < 0 or ih >= H:
                        for ow in range(Wo):
                            row[base + ow] = 0
                        continue
                    for ow in range(ow_lo):
                        row[base + ow] = 0
                    if stride == 1:             # contiguous run: lets LLVM vectorise the copy
                        for ow in range(ow_lo, ow_hi):
                            row[base + ow] = plane[ih, ow + j - pad]
                    else:
                        for ow in range(ow_lo, ow_hi):
                            row[base + ow] = plane[ih, ow * stride - pad + j]
                    for ow in range(ow_hi, Wo):
                        row[base + ow] = 0


@njit(parallel=True, cache=True)
def col2im(dcols, kh, kw, stride, pad, dx):
    """Adjoint of im2col: scatter-add dcols (N, C*kh*kw, Ho*Wo) into dx (N, C, H, W)."""
    N, C, H, W = dx.shape
    Ho = (H + 2 * pad - kh) // stride + 1
    Wo = (W + 2 * pad - kw) // stride + 1
    for nc in prange(N * C):
        n = nc // C
        c = nc % C
        plane = dx[n, c]
        plane[:, :] = 0
        for i in range(kh):
            for j in range(kw):
                row = dcols[n, (c * kh + i) * kw + j]
                ow_lo, ow_hi = _valid_range(Wo, W, stride, pad, j)
                oh_lo, oh_hi = _valid_range(Ho, H, stride, pad, i)
                for oh in range(oh_lo, oh_hi):
                    dst = plane[oh * stride - pad + i]
                    base = oh * Wo
                    if stride == 1:
                        shift = j - pad
                        for ow in range(ow_lo, ow_hi):
                            dst[ow + shift] += row[base + ow]
                    else:
                        for ow in range(ow_lo, ow_hi):
                            dst[ow * stride - pad + j] += row[base + ow]


@njit(parallel=True, cache=True)
def add_channel_bias(y, bias):
    """y (N, C, P) += bias (C,) broadcast over N and P, in place."""
    N, C, P = y.shape
    for nc in prange(N * C):
        b = bias[nc % C]
        row = y[nc // C, nc % C]
        for p in range(P):
            row[p] += b


@njit(parallel=True, cache=True)
def relu_forward(x, y):
    """y = max(x, 0) element-wise (flat, contiguous arrays)."""
    for i in prange(x.size):
        v = x[i]
        y[i] = v if v > 0 else 0


@njit(parallel=True, cache=True)
def relu_backward(dy, y, dx):
    """dx = dy where the ReLU output y was positive, else 0 (flat, contiguous arrays)."""
    for i in prange(dy.size):
        dx[i] = dy[i] if y[i] > 0 else 0


@njit(parallel=True, cache=True)
def maxpool_forward(x, k, stride, y, argmax):
    """y[n,c,oh,ow] = max of the k*k window; argmax keeps its flat index into the H*W plane."""
    N, C, H, W = x.shape
    Ho, Wo = y.shape[2], y.shape[3]
    for nc in prange(N * C):
        n = nc // C
        c = nc % C
        for oh in range(Ho):
            for ow in range(Wo):
                h0 = oh * stride
                w0 = ow * stride
                best = x[n, c, h0, w0]
                best_idx = h0 * W + w0
                for i in range(k):
                    for j in range(k):
                        v = x[n, c, h0 + i, w0 + j]
                        if v > best:
                            best = v
                            best_idx = (h0 + i) * W + w0 + j
                y[n, c, oh, ow] = best
                argmax[n, c, oh, ow] = best_idx


@njit(parallel=True, cache=True)
def maxpool_backward(dy, argmax, dx):
    """Route each dy to the input position that won the max (dx is overwritten)."""
    N, C, H, W = dx.shape
    Ho, Wo = dy.shape[2], dy.shape[3]
    for nc in prange(N * C):
        n = nc // C
        c = nc % C
        dx[n, c] = 0
        for oh in range(Ho):
            for ow in range(Wo):
                idx = argmax[n, c, oh, ow]
                dx[n, c, idx // W, idx % W] += dy[n, c, oh, ow]


@njit(parallel=True, cache=True)
def avgpool_forward(x, k, stride, y):
    """y[n,c,oh,ow] = mean of the k*k window."""
    N, C, H, W = x.shape
    Ho, Wo = y.shape[2], y.shape[3]
    scale = 1.0 / (k * k)
    for nc in prange(N * C):
        n = nc // C
        c = nc % C
        for oh in range(Ho):
            for ow in range(Wo):
                s = x[n, c, oh * stride, ow * stride] * 0
                for i in range(k):
                    for j in range(k):
                        s += x[n, c, oh * stride + i, ow * stride + j]
                y[n, c, oh, ow] = s * scale


@njit(parallel=True, cache=True)
def avgpool_backward(dy, k, stride, dx):
    """Spread each dy evenly over its k*k window (dx is overwritten)."""
    N, C, H, W = dx.shape
    Ho, Wo = dy.shape[2], dy.shape[3]
    scale = 1.0 / (k * k)
    for nc in prange(N * C):
        n = nc // C
        c = nc % C
        dx[n, c] = 0
        for oh in range(Ho):
            for ow in range(Wo):
                g = dy[n, c, oh, ow] * scale
                for i in range(k):
                    for j in range(k):
                        dx[n, c, oh * stride + i, ow * stride + j] += g
