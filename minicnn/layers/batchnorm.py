"""Batch normalisation (Ioffe & Szegedy, 2015), with PyTorch's conventions.

BatchNorm2D normalises each channel over (N, H, W) of x (N, C, H, W);
BatchNorm1D each feature over N of x (N, D).  Below, m is the number of values
per channel and every statistic is per channel.  gamma, beta: (C,).

Training forward (biased batch variance):
    μ = (1/m) Σ x        σ² = (1/m) Σ (x − μ)²        x̂ = (x − μ) / √(σ² + ε)
    y = γ · x̂ + β
    running_mean ← (1 − momentum)·running_mean + momentum·μ
    running_var  ← (1 − momentum)·running_var  + momentum·σ²·m/(m − 1)   (unbiased)
Inference forward: the same with μ, σ² replaced by the running statistics.

Backward (training), with g = dy · γ:
    dγ = Σ dy · x̂        dβ = Σ dy
    dx = (1/√(σ² + ε)) · (g − mean(g) − x̂ · mean(g · x̂))
Backward (inference): statistics are constants, so dx = g / √(running_var + ε).
"""
import numpy as np

from .base import DEFAULT_DTYPE, Layer


class _BatchNorm(Layer):
    axes = None           # reduction axes, set by subclasses
    expected_ndim = None

    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        super().__init__()
        self.num_features, self.momentum, self.eps = num_features, momentum, eps
        self._add_param("gamma", np.ones(num_features, dtype=DEFAULT_DTYPE))
        self._add_param("beta", np.zeros(num_features, dtype=DEFAULT_DTYPE))
        self.buffers["running_mean"] = np.zeros(num_features, dtype=DEFAULT_DTYPE)
        self.buffers["running_var"] = np.ones(num_features, dtype=DEFAULT_DTYPE)

    def config(self):
        return dict(num_features=self.num_features, momentum=self.momentum, eps=self.eps)

    def _per_channel(self, v):
        """(C,) → broadcastable against x."""
        return v.reshape((1, -1) + (1,) * (self.expected_ndim - 2))

    def forward(self, x, training=False):
        if x.ndim != self.expected_ndim or x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) got input of shape {x.shape}")
        dt = x.dtype.type
        if training:
            m = x.size // x.shape[1]
            if m < 2:
                raise ValueError(f"{type(self).__name__} in training needs more than one value per channel")
            mean = x.mean(axis=self.axes, dtype=x.dtype)
            centered = x - self._per_channel(mean)
            var = np.square(centered).mean(axis=self.axes, dtype=x.dtype)
            mom = dt(self.momentum)
            self.buffers["running_mean"][...] = (1 - mom) * self.buffers["running_mean"] + mom * mean
            self.buffers["running_var"][...] = (1 - mom) * self.buffers["running_var"] + mom * var * dt(m / (m - 1))
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
            centered = x - self._per_channel(mean)
        self._inv_std = (1 / np.sqrt(var + dt(self.eps))).astype(x.dtype)
        self._x_hat = centered * self._per_channel(self._inv_std)
        self._training = training
        return self._x_hat * self._per_channel(self.params["gamma"]) + self._per_channel(self.params["beta"])

    def backward(self, dy):
        self.grads["gamma"][...] = (dy * self._x_hat).sum(axis=self.axes)
        self.grads["beta"][...] = dy.sum(axis=self.axes)
        g = dy * self._per_channel(self.params["gamma"] * self._inv_std)
        if not self._training:
            return g
        g_mean = g.mean(axis=self.axes, dtype=g.dtype)
        gx_mean = (g * self._x_hat).mean(axis=self.axes, dtype=g.dtype)
        return g - self._per_channel(g_mean) - self._x_hat * self._per_channel(gx_mean)


class BatchNorm2D(_BatchNorm):
    axes = (0, 2, 3)
    expected_ndim = 4


class BatchNorm1D(_BatchNorm):
    axes = (0,)
    expected_ndim = 2
