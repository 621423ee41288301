"""Inverted dropout.

Training:  m ~ Bernoulli(1 − p) element-wise,  y = x · m / (1 − p),  dx = dy · m / (1 − p).
Inference: y = x (the 1/(1 − p) scaling at training time keeps expectations equal,
so nothing needs rescaling at test time).  Shapes are unchanged.

``rng`` (public) is the NumPy Generator the masks are drawn from: give it at construction,
or assign another to replay a stream — fer_app's trainer gives every dropout layer its own
generator per epoch, so that a resumed run draws the same masks as an uninterrupted one.
"""
import numpy as np

from ..arrays import array_module
from .base import Layer, as_rng


class Dropout(Layer):
    def __init__(self, p=0.5, rng=None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout p must be in [0, 1), got {p}")
        self.p = p
        self.rng = as_rng(rng)

    def config(self):
        return dict(p=self.p)

    def array_forward(self, x, training=False):
        if not training or self.p == 0.0:
            self._scale = None
            return x
        # drawn from the NumPy generator wherever x lives, so a run on a GPU keeps the same random streams
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.p
        self._scale = array_module(x).asarray(keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p)))
        return x * self._scale

    def array_backward(self, dy):
        return dy if self._scale is None else dy * self._scale
