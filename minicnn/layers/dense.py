"""Fully connected (affine) layer.

Shapes: x (N, D), weight (D, M), bias (M,), y (N, M).

    forward   y = x · W + b
    backward  dL/dW = xᵀ · dy        (D, M)
              dL/db = Σ_n dy[n]      (M,)
              dL/dx = dy · Wᵀ        (N, D)
"""
import numpy as np

from .base import Layer, as_rng, he_normal


class Dense(Layer):
    def __init__(self, in_features, out_features, rng=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self._add_param("weight", he_normal(as_rng(rng), (in_features, out_features), in_features))
        self._add_param("bias", np.zeros(out_features, dtype=self.params["weight"].dtype))

    def config(self):
        return dict(in_features=self.in_features, out_features=self.out_features)

    def forward(self, x, training=False):
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"Dense expects input (N, {self.in_features}), got {x.shape}")
        self._x = x
        return x @ self.params["weight"] + self.params["bias"]

    def backward(self, dy):
        self.grads["weight"][...] = self._x.T @ dy
        self.grads["bias"][...] = dy.sum(axis=0)
        return dy @ self.params["weight"].T
