"""Fully connected (affine) layer.

Shapes: x (N, D), weight (D, M), bias (M,), y (N, M).

    forward   y = x · W + b
    backward  dL/dW = xᵀ · dy        (D, M)
              dL/db = Σ_n dy[n]      (M,)
              dL/dx = dy · Wᵀ        (N, D)

``forward(x, relu=True)`` also applies max(·, 0) to y (Sequential.predict fuses a following
ReLU layer this way, for inference only), and ``forward(x, affine=(s, t))`` gives y·s + t per output
feature: a BatchNorm1D that follows, folded in at inference (see Conv2D).  The whole-array form is
the three lines above; the fast form runs the same products on minicnn.parallel's threads, a block
of W per chunk so that W is read once: forward a few columns of W (their outputs) — or, for fewer
inputs than chunks, a few rows (their share of every output, added) — backward a few rows (their
dL/dW, and the columns of dL/dx they reach).
"""
import numpy as np

from .. import parallel
from .base import Layer, as_rng, check_int, he_normal


class Dense(Layer):
    def __init__(self, in_features, out_features, rng=None):
        super().__init__()
        shapes = self.state_shapes(in_features, out_features)
        self.in_features, self.out_features = in_features, out_features
        self._add_param("weight", he_normal(as_rng(rng), shapes["weight"], in_features))
        self._add_param("bias", np.zeros(shapes["bias"], dtype=self.params["weight"].dtype))

    @staticmethod
    def state_shapes(in_features, out_features):
        check_int("Dense", "in_features", in_features, 1)
        check_int("Dense", "out_features", out_features, 1)
        return {"weight": (in_features, out_features), "bias": (out_features,)}

    def config(self):
        return dict(in_features=self.in_features, out_features=self.out_features)

    fuses_relu = True

    def _check_input(self, x):
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"Dense expects input (N, {self.in_features}), got {x.shape}")

    def array_forward(self, x, training=False):
        self._check_input(x)
        self._x = x
        return x @ self.params["weight"] + self.params["bias"]

    def array_backward(self, dy):
        self.grads["weight"] += self._x.T @ dy
        self.grads["bias"] += dy.sum(axis=0)
        return dy @ self.params["weight"].T

    def kernel_forward(self, x, training=False, relu=False, affine=None):
        self._check_input(x)
        self._x, self._inference_only = x, relu or affine is not None
        w, b = self.params["weight"], self.params["bias"]
        dtype = np.result_type(x, w)
        if affine is not None:
            scale, shift = (np.asarray(v, dtype) for v in affine)
            b = b * scale + shift

        def finish(y, columns=slice(None)):     # y·s + b (or + b), then max(·, 0), in place
            if affine is not None:
                y *= scale[columns]
            y += b[columns]
            if relu:
                np.maximum(y, 0, out=y)
            return y

        if x.shape[0] < parallel.MIN_CHUNKS:
            # a few inputs (a live frame's faces): W is the cost, so each chunk reads a block of its rows
            # (contiguous, 128 KiB at least: a small W is one chunk), and their products are added in a fixed order
            rows = parallel.chunk_size(self.in_features, 512, parallel.CHUNK_ELEMENTS // self.out_features)
            rows = parallel.chunk_unless_small(self.in_features, rows, x.shape[0] * w.size)
            y, = parallel.sum_over_chunks(lambda lo, hi: (x[:, lo:hi] @ w[lo:hi],), self.in_features, rows)
            return finish(y.astype(dtype, copy=False))
        y = np.empty((x.shape[0], self.out_features), dtype=dtype)
        columns = parallel.chunk_unless_small(self.out_features, parallel.chunk_size(self.out_features, 64, 16),
                                              x.shape[0] * w.size)
        parallel.for_each_chunk(lambda lo, hi: finish(np.matmul(x, w[:, lo:hi], out=y[:, lo:hi]), slice(lo, hi)),
                                self.out_features, columns)
        return y

    def kernel_backward(self, dy):
        if self._inference_only:
            raise RuntimeError("Dense.backward after forward(relu=True) or forward(affine=...), which are for "
                               "inference only")
        x, w, dw = self._x, self.params["weight"], self.grads["weight"]
        dx = np.empty(x.shape, dtype=np.result_type(dy, w))

        def input_rows(lo, hi):       # the rows lo:hi of W: their gradient (added), and the inputs they read
            dw[lo:hi] += x[:, lo:hi].T @ dy
            np.matmul(dy, w[lo:hi].T, out=dx[:, lo:hi])
        parallel.for_each_chunk(input_rows, self.in_features, parallel.chunk_size(self.in_features, 512, 64))
        self.grads["bias"] += dy.sum(axis=0)
        return dx
