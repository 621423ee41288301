"""Numba-compiled kernels for the hot loops of minicnn.

Every kernel here has a plain-NumPy twin of the same name in ``minicnn.reference``;
the tests check that the two agree.  Kernels write into caller-provided output
arrays so layers can reuse buffers, and they never change dtypes (float32 stays
float32).  Layout conventions:

* images are NCHW;
* ``cols`` is the im2col tensor, shape (C*KH*KW, N, Ho*Wo): one row per input
  tap (c, i, j), and along it every output pixel (n, oh, ow) of the batch, so a
  whole convolution is one large matrix product ``W.reshape(F, -1) @ cols``
  (thin per-image products waste most of BLAS's speed on small feature maps),
  and the inner loops of the gathers walk contiguous memory.
"""
import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def im2col(x, kh, kw, stride, pad, cols):
    """x (N, C, H, W) -> cols (C*kh*kw, N, Ho*Wo); taps outside the image are 0.

    Each (image, channel) plane is first copied into a zero-padded scratch plane, so
    the gather for every tap is a branch-free strided copy."""
    N, C, H, W = x.shape
    Ho = (H + 2 * pad - kh) // stride + 1
    Wo = (W + 2 * pad - kw) // stride + 1
    for nc in prange(N * C):
        n = nc // C
        c = nc % C
        padded = np.zeros((H + 2 * pad, W + 2 * pad), x.dtype)
        padded[pad:pad + H, pad:pad + W] = x[n, c]
        for i in range(kh):
            for j in range(kw):
                row = cols[(c * kh + i) * kw + j, n]
                for oh in range(Ho):
                    src = padded[oh * stride + i]
                    for ow in range(Wo):
                        row[oh * Wo + ow] = src[ow * stride + j]


@njit(parallel=True, cache=True)
def col2im(dcols, kh, kw, stride, pad, dx):
    """Adjoint of im2col: scatter-add dcols (C*kh*kw, N, Ho*Wo) into dx (N, C, H, W)."""
    N, C, H, W = dx.shape
    Ho = (H + 2 * pad - kh) // stride + 1
    Wo = (W + 2 * pad - kw) // stride + 1
    for nc in prange(N * C):
        n = nc // C
        c = nc % C
        padded = np.zeros((H + 2 * pad, W + 2 * pad), dx.dtype)
        for i in range(kh):
            for j in range(kw):
                row = dcols[(c * kh + i) * kw + j, n]
                for oh in range(Ho):
                    dst = padded[oh * stride + i]
                    for ow in range(Wo):
                        dst[ow * stride + j] += row[oh * Wo + ow]
        dx[n, c] = padded[pad:pad + H, pad:pad + W]


@njit(parallel=True, cache=True)
def rows_to_nchw(rows, bias, y):
    """rows (C, N, P) -> y (N, C, P) with bias (C,) added: the GEMM output back in NCHW order."""
    N, C, P = y.shape
    for nc in prange(N * C):
        n = nc // C
        c = nc % C
        b = bias[c]
        src = rows[c, n]
        dst = y[n, c]
        for p in range(P):
            dst[p] = src[p] + b


@njit(parallel=True, cache=True)
def nchw_to_rows(dy, rows):
    """dy (N, C, P) -> rows (C, N, P): the transpose that rows_to_nchw undoes (without the bias)."""
    N, C, P = dy.shape
    for nc in prange(N * C):
        n = nc // C
        c = nc % C
        src = dy[n, c]
        dst = rows[c, n]
        for p in range(P):
            dst[p] = src[p]


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


@njit(parallel=True, cache=True)
def batchnorm_stats(x, mean, var):
    """Per-channel mean and biased variance of x (N, C, P), accumulated in float64."""
    N, C, P = x.shape
    m = N * P
    for c in prange(C):
        s = 0.0
        for n in range(N):
            for p in range(P):
                s += x[n, c, p]
        mu = s / m
        ss = 0.0
        for n in range(N):
            for p in range(P):
                d = x[n, c, p] - mu
                ss += d * d
        mean[c] = mu
        var[c] = ss / m


@njit(parallel=True, cache=True)
def batchnorm_normalize(x, mean, inv_std, gamma, beta, x_hat, y):
    """x_hat = (x - mean) * inv_std and y = gamma * x_hat + beta, per channel of x (N, C, P)."""
    N, C, P = x.shape
    for nc in prange(N * C):
        n = nc // C
        c = nc % C
        mu, s, g, b = mean[c], inv_std[c], gamma[c], beta[c]
        for p in range(P):
            h = (x[n, c, p] - mu) * s
            x_hat[n, c, p] = h
            y[n, c, p] = h * g + b


@njit(parallel=True, cache=True)
def batchnorm_backward(dy, x_hat, gamma, inv_std, training, dx, dgamma, dbeta):
    """BatchNorm gradients for dy (N, C, P); see minicnn/layers/batchnorm.py for the equations."""
    N, C, P = dy.shape
    m = N * P
    for c in prange(C):
        sum_dy = 0.0
        sum_dy_xhat = 0.0
        for n in range(N):
            for p in range(P):
                sum_dy += dy[n, c, p]
                sum_dy_xhat += dy[n, c, p] * x_hat[n, c, p]
        dgamma[c] = sum_dy_xhat
        dbeta[c] = sum_dy
        scale = gamma[c] * inv_std[c]
        shift = sum_dy / m if training else 0.0
        slope = sum_dy_xhat / m if training else 0.0
        for n in range(N):
            for p in range(P):
                dx[n, c, p] = scale * (dy[n, c, p] - shift - x_hat[n, c, p] * slope)
