"""Residual block: y = x + f(x), the skip connection of ResNets (He et al. 2016).

f, the block's body, is a short stack of layers — typically Conv2D → BatchNorm2D (→ ReLU → Conv2D →
BatchNorm2D) — that keeps the shape of its input, so that the two can be added.  A ReLU usually follows the
block; here it is a layer of its own: ``Residual([...]), ReLU()``.

Forward, x (N, C, H, W) (or any shape the body keeps):

    h = f(x)                 the body's layers in turn                    (N, C, H, W)
    y = x + h                                                             (N, C, H, W)

Backward: a sum hands dL/dy to each of its inputs unchanged, so

    dL/dx = dL/dy + J_f(x)ᵀ · dL/dy        the identity path, plus the body's own backward
    dL/dθ = what the body's backward gives: the skip has no parameters

The first term is why deep stacks of such blocks train: however small the Jacobians of the bodies become,
the gradient reaches the early layers through the sums, undiminished.  And a block whose last BatchNorm has
γ = 0 is the identity, so a net with more blocks can do at least what one with fewer does.

The body is a Sequential (minicnn/model.py), so its layers run with the same fused kernels as a model's.  The
block's ``params``, ``grads`` and ``buffers`` are the body's, named '{index in the body}.{name}'
(``"0.weight"``), and the same arrays: an optimizer, a model file, ``astype`` or the GPU sees a Residual as
one more layer.  ``config()`` lists the body's layers, so a model file rebuilds it.
"""
from collections.abc import MutableMapping

from .base import Layer


class BodyStore(MutableMapping):
    """One store of the body's layers (``params``, ``grads`` or ``buffers``) seen as one dict, keyed
    '{index in the body}.{name}'; reading or replacing an entry reads or replaces the layer's own."""

    def __init__(self, layers, store):
        self._layers, self._store = layers, store

    def _place(self, key):
        index, _, name = key.partition(".")
        if not index.isdigit() or int(index) >= len(self._layers):
            raise KeyError(key)
        store = getattr(self._layers[int(index)], self._store)
        if name not in store:
            raise KeyError(key)
        return store, name

    def __getitem__(self, key):
        store, name = self._place(key)
        return store[name]

    def __setitem__(self, key, value):
        store, name = self._place(key)      # only arrays the body has: a block's set of arrays is fixed
        store[name] = value

    def __delitem__(self, key):
        raise TypeError(f"{key!r}: a Residual's arrays are its body's layers'; they cannot be removed")

    def __iter__(self):
        return (f"{i}.{name}" for i, layer in enumerate(self._layers) for name in getattr(layer, self._store))

    def __len__(self):
        return sum(len(getattr(layer, self._store)) for layer in self._layers)


class Residual(Layer):
    def __init__(self, layers):
        """``layers``: the body, as layers (or as ``config()`` gives them: {"type", "config"} dicts)."""
        from ..model import Sequential      # model.py imports the layers: imported here, not above
        super().__init__()
        self.body = Sequential([_built(layer) for layer in layers])
        if not self.body.layers:
            raise ValueError("Residual needs at least one layer in its body")
        self.params, self.grads, self.buffers = (BodyStore(self.body.layers, store)
                                                 for store in ("params", "grads", "buffers"))

    def forward(self, x, training=False):
        h = self.body.forward(x, training=training)
        if h.shape != x.shape:
            raise ValueError(f"Residual: its body maps {tuple(x.shape[1:])} to {tuple(h.shape[1:])}; it must keep "
                             f"the shape to be added to its input")
        return x + h

    def backward(self, dy):
        return dy + self.body.backward(dy)

    def config(self):
        return {"layers": self.body.architecture()}

    @staticmethod
    def state_shapes(layers):
        return {f"{i}.{name}": shape for i, spec in enumerate(layers)
                for name, shape in _layer_type(spec["type"]).state_shapes(**spec["config"]).items()}

    def __repr__(self):
        return f"Residual({', '.join(map(repr, self.body.layers))})"


def _built(layer):
    """A layer, or one built from its {"type", "config"} description (a model file's)."""
    return layer if isinstance(layer, Layer) else _layer_type(layer["type"])(**layer["config"])


def _layer_type(name):
    from . import LAYER_TYPES           # the package's table of layers, which includes this one
    if name not in LAYER_TYPES:
        raise ValueError(f"unknown layer type {name!r} in a Residual")
    return LAYER_TYPES[name]
