"""Batch normalisation (Ioffe & Szegedy, 2015), with PyTorch's conventions.

BatchNorm2D normalises each channel over (N, H, W) of x (N, C, H, W);
BatchNorm1D each feature over N of x (N, D).  Below, m is the number of values
per channel and every statistic is per channel.  gamma, beta: (C,).

Training forward (biased batch variance):
    μ = (1/m) Σ x        σ² = (1/m) Σ (x − μ)²  = (1/m) Σ x² − μ²        x̂ = (x − μ) / √(σ² + ε)
    y = γ · x̂ + β
    running_mean ← (1 − momentum)·running_mean + momentum·μ
    running_var  ← (1 − momentum)·running_var  + momentum·σ²·m/(m − 1)   (unbiased)
Inference forward: the same with μ, σ² replaced by the running statistics.
``forward(x, relu=True)`` also applies max(·, 0) as y is written (Sequential fuses a following
ReLU layer this way, in training as at inference); backward then takes dL/d max(y, 0) and keeps the
part where y > 0, y recomputed from x as forward computed it.

Backward (training), with g = dy · γ (dy masked by y > 0 after a fused ReLU):
    dγ = Σ dy · x̂        dβ = Σ dy
    dx = (1/√(σ² + ε)) · (g − mean(g) − x̂ · mean(g · x̂))
Backward (inference): statistics are constants, so dx = g / √(running_var + ε).
The whole-array form writes these lines as they stand, on an (N, C, P) view of the input.  The fast
form's per-channel loops are the Numba kernels batchnorm_stats / batchnorm_normalize /
batchnorm_backward (minicnn/kernels.py), run on an (N, C, P) view of the input
(P = H·W for BatchNorm2D, 1 for BatchNorm1D): the statistics and the backward pass
on a few channels per chunk, the normalisation on a few images per chunk.  The
statistics take one pass (Σx and Σx² in float64); the forward pass writes only y,
as y = x·(γ/σ) + (β − μγ/σ), and backward recomputes x̂ from the x it kept.
"""
import math

import numpy as np

from .. import kernels, parallel
from ..arrays import array_module
from .base import DEFAULT_DTYPE, Layer, check_int


class _BatchNorm(Layer):
    expected_ndim = None   # set by subclasses

    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        super().__init__()
        self.state_shapes(num_features, momentum, eps)
        self.num_features, self.momentum, self.eps = num_features, momentum, eps
        self._add_param("gamma", np.ones(num_features, dtype=DEFAULT_DTYPE))
        self._add_param("beta", np.zeros(num_features, dtype=DEFAULT_DTYPE))
        self.buffers["running_mean"] = np.zeros(num_features, dtype=DEFAULT_DTYPE)
        self.buffers["running_var"] = np.ones(num_features, dtype=DEFAULT_DTYPE)

    @staticmethod
    def state_shapes(num_features, momentum=0.1, eps=1e-5):
        check_int("BatchNorm", "num_features", num_features, 1)
        if not (isinstance(momentum, (int, float)) and 0 <= momentum <= 1):
            raise ValueError(f"BatchNorm momentum must be in [0, 1], got {momentum!r}")
        if not (isinstance(eps, (int, float)) and 0 <= eps < 1):
            raise ValueError(f"BatchNorm eps must be in [0, 1), got {eps!r}")
        return {name: (num_features,) for name in ("gamma", "beta", "running_mean", "running_var")}

    def config(self):
        return dict(num_features=self.num_features, momentum=self.momentum, eps=self.eps)

    fuses_relu = trains_with_relu = True

    def _check_input(self, x):
        if x.ndim != self.expected_ndim or x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) got input of shape {x.shape}")

    def _check_batch(self, m):
        if m < 2:
            raise ValueError(f"{type(self).__name__} in training needs more than one value per channel")

    def array_forward(self, x, training=False):
        self._check_input(x)
        xp = array_module(x)
        x3 = x.reshape(x.shape[0], x.shape[1], -1)
        if training:
            m = x3.shape[0] * x3.shape[2]
            self._check_batch(m)
            mean = x3.mean(axis=(0, 2))
            centered = x3 - mean.reshape(1, -1, 1)
            var = (centered * centered).mean(axis=(0, 2))
            mom, running_mean, running_var = self.momentum, self.buffers["running_mean"], self.buffers["running_var"]
            running_mean *= 1 - mom
            running_mean += mom * mean
            running_var *= 1 - mom
            running_var += (mom * m / (m - 1)) * var
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
            centered = x3 - mean.reshape(1, -1, 1)
        self._inv_std = 1 / xp.sqrt(var + self.eps)
        self._x_hat, self._training = centered * self._inv_std.reshape(1, -1, 1), training
        return (self.params["gamma"].reshape(1, -1, 1) * self._x_hat
                + self.params["beta"].reshape(1, -1, 1)).reshape(x.shape)

    def array_backward(self, dy):
        dy3 = dy.reshape(self._x_hat.shape)
        dgamma, dbeta = (dy3 * self._x_hat).sum(axis=(0, 2)), dy3.sum(axis=(0, 2))
        self.grads["gamma"] += dgamma
        self.grads["beta"] += dbeta
        scale = (self.params["gamma"] * self._inv_std).reshape(1, -1, 1)
        if not self._training:              # the statistics were constants
            return (scale * dy3).reshape(dy.shape)
        m = dy3.shape[0] * dy3.shape[2]
        return (scale * (dy3 - dbeta.reshape(1, -1, 1) / m
                         - self._x_hat * dgamma.reshape(1, -1, 1) / m)).reshape(dy.shape)

    def kernel_forward(self, x, training=False, relu=False):
        self._check_input(x)
        x3 = np.ascontiguousarray(x).reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:]))
        self._mean, self._inv_std, scale, shift = self._affine(*self._statistics(x3, training), x.dtype)
        y = np.empty_like(x3)
        parallel.for_each_chunk(lambda lo, hi: kernels.batchnorm_normalize(x3[lo:hi], scale, shift, relu, y[lo:hi]),
                                x3.shape[0], parallel.chunk_by_size(x3.shape[0], x3.shape[1] * x3.shape[2]))
        self._x3, self._training, self._relu, self._scale, self._shift = x3, training, relu, scale, shift
        self._argmax = None
        return y.reshape(x.shape)

    def _statistics(self, x3, training):
        """(mean, var) per channel to normalise x3 (N, C, P) with: in training the batch's, the running ones
        updated; else the running ones."""
        if not training:
            return self.buffers["running_mean"], self.buffers["running_var"]
        m = x3.shape[0] * x3.shape[2]
        self._check_batch(m)
        mean, var = np.empty(self.num_features), np.empty(self.num_features)
        parallel.for_each_chunk(lambda lo, hi: kernels.batchnorm_stats(x3, lo, mean[lo:hi], var[lo:hi]),
                                self.num_features, self._channels_per_chunk())
        mom = self.momentum
        self.buffers["running_mean"][...] = (1 - mom) * self.buffers["running_mean"] + mom * mean
        self.buffers["running_var"][...] = (1 - mom) * self.buffers["running_var"] + mom * var * (m / (m - 1))
        return mean, var

    def _affine(self, mean, var, dtype):
        """μ, 1/√(σ² + ε), and the (scale, shift) with which y = x·scale + shift, all in ``dtype``."""
        mean, inv_std = mean.astype(dtype), (1 / np.sqrt(var + self.eps)).astype(dtype)
        scale = (self.params["gamma"] * inv_std).astype(dtype)
        return mean, inv_std, scale, (self.params["beta"] - mean * scale).astype(dtype)

    def inference_affine(self, dtype=DEFAULT_DTYPE):
        """(scale, shift) per channel with forward(x) = x·scale + shift at inference: what the layer before can
        apply as it writes its output (Sequential.predict folds the BatchNorm into a Conv2D or Dense this way)."""
        return self._affine(self.buffers["running_mean"], self.buffers["running_var"], dtype)[2:]

    def kernel_backward(self, dy):
        x3 = self._x3
        dy3 = np.ascontiguousarray(dy).reshape(x3.shape)
        dx = np.empty_like(dy3)
        self._by_channels(lambda lo, hi, dgamma, dbeta: kernels.batchnorm_backward(
            dy3, x3, lo, self._mean[lo:hi], self._inv_std[lo:hi], self._scale[lo:hi], self._shift[lo:hi],
            self._training, self._relu, dx, dgamma, dbeta))
        return dx.reshape(dy.shape)

    def _by_channels(self, backward_chunk):
        """Run ``backward_chunk(lo, hi, dgamma[lo:hi], dbeta[lo:hi])`` over chunks of channels; add dγ and dβ."""
        dgamma, dbeta = np.empty_like(self.params["gamma"]), np.empty_like(self.params["gamma"])
        parallel.for_each_chunk(lambda lo, hi: backward_chunk(lo, hi, dgamma[lo:hi], dbeta[lo:hi]),
                                self.num_features, self._channels_per_chunk())
        self.grads["gamma"] += dgamma
        self.grads["beta"] += dbeta

    def _channels_per_chunk(self):
        return parallel.chunk_size(self.num_features, 8)


class BatchNorm2D(_BatchNorm):
    """In training, ``forward(x, relu=True, pool=True)`` also applies the ReLU and a 2×2 max-pool of stride 2 that
    follow it (Sequential hands it such a block): the pool reads x, not the BatchNorm's output, which is never
    written — the affine x·γ/σ + (β − μγ/σ) is monotone in x, so a window's largest x gives its largest output
    where γ > 0 and its smallest where γ < 0.  Backward takes dL/d(pooled output): the pool routes it to each
    window's winner, and the BatchNorm's sums run over the winners alone (kernels batchnorm_relu_maxpool_*)."""
    expected_ndim = 4
    trains_with_pool = True

    def kernel_forward(self, x, training=False, relu=False, pool=False):
        if not pool:
            return super().kernel_forward(x, training, relu)
        self._check_input(x)
        x = np.ascontiguousarray(x)
        N, C, H, W = x.shape
        x3 = x.reshape(N, C, H * W)
        self._mean, self._inv_std, scale, shift = self._affine(*self._statistics(x3, training), x.dtype)
        y = np.empty((N, C, H // 2, W // 2), dtype=x.dtype)
        self._argmax = np.empty(y.shape, dtype=np.uint8)
        parallel.for_each_chunk(lambda lo, hi: kernels.batchnorm_relu_maxpool_forward(x[lo:hi], scale, shift, y[lo:hi],
                                                                                     self._argmax[lo:hi]),
                                N, parallel.chunk_by_size(N, C * H * W))
        self._x4, self._training, self._scale = x, training, scale
        return y

    def kernel_backward(self, dy):
        if self._argmax is None:
            return super().kernel_backward(dy)
        x, dy = self._x4, np.ascontiguousarray(dy)
        dx = np.empty_like(x)
        self._by_channels(lambda lo, hi, dgamma, dbeta: kernels.batchnorm_relu_maxpool_backward(
            dy, self._argmax, x, lo, self._mean[lo:hi], self._inv_std[lo:hi], self._scale[lo:hi], self._training, dx,
            dgamma, dbeta))
        return dx


class BatchNorm1D(_BatchNorm):
    expected_ndim = 2
