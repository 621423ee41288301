"""The contract every layer keeps.

A layer maps a batch ``x`` to ``y = forward(x)`` and, given dL/dy, returns
dL/dx from ``backward(dy)`` while *adding* dL/dθ to ``grads``, as PyTorch does:
a layer used twice gets the sum of both gradients, and several small batches can
be accumulated before one optimizer step; ``zero_grad()`` (or the optimizer's)
starts afresh.  ``backward`` uses what the most recent ``forward`` cached, so call
them in pairs.

* ``params``  : dict name -> array, the trainable tensors (updated in place).
* ``grads``   : dict with the same keys and shapes, added to by ``backward``.
* ``buffers`` : dict of non-trainable state that is saved with the model
  (BatchNorm's running statistics).

Each layer writes its equations once as whole-array operations, ``array_forward`` and
``array_backward``: the textbook form, on the NumPy API, so that it runs on NumPy arrays and on
CuPy arrays on a GPU alike (minicnn/arrays.py).  A layer whose loops are worth compiling also has
``kernel_forward`` and ``kernel_backward``: the CPU's fast form, on the Numba kernels of
minicnn/kernels.py, which tests compare with the whole-array form.  ``forward`` and ``backward``
choose between them, here and nowhere else: the kernels where the layer has them, unless the
array lives on a GPU; else the whole-array form.  A new layer needs only the whole-array form to
run everywhere.
"""
import numpy as np

from .. import arrays

DEFAULT_DTYPE = np.float32


class Layer:
    fuses_relu = False      # True where forward(x, relu=True) applies a following ReLU itself
    trains_with_relu = False    # True where backward also follows forward(x, relu=True)
    commutes_with_relu = False  # True where layer(relu(x)) = relu(layer(x)): a ReLU before it is done after it
    trains_with_pool = False    # True where forward(x, relu=True, pool=True) in training also does a 2×2 max-pool
    skips_input_grad = False    # True where backward(dy, input_grad=False) saves the work of dL/dx
    kernel_forward = kernel_backward = None     # the CPU's fast form, where a layer has one

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.buffers = {}

    def forward(self, x, training=False, **fused):
        """y = layer(x).  ``fused`` (relu=True, affine=(s, t)) are the kernels' options: for inference, and
        relu=True in training too where trains_with_relu."""
        if self.kernel_forward is not None and not arrays.on_gpu(x):
            return self.kernel_forward(x, training, **fused)
        return self.array_forward(x, training, **fused)

    def backward(self, dy, **options):
        """dL/dx, adding dL/dθ to ``grads``.  ``options``: input_grad=False where skips_input_grad (dL/dx is not
        wanted: the layer's input is the data; the CPU's kernels then may return None)."""
        if self.kernel_backward is not None and not arrays.on_gpu(dy):
            return self.kernel_backward(dy, **options)
        return self.array_backward(dy)

    def array_forward(self, x, training=False):
        raise NotImplementedError(f"{type(self).__name__} has no whole-array form (array_forward), so it cannot "
                                  f"run on a GPU")

    def array_backward(self, dy):
        raise NotImplementedError(f"{type(self).__name__} has no whole-array form (array_backward), so it cannot "
                                  f"run on a GPU")

    def zero_grad(self):
        for grad in self.grads.values():
            grad[...] = 0

    def config(self):
        """Constructor arguments, as JSON-friendly values, to rebuild the layer."""
        return {}

    @staticmethod
    def state_shapes(**config):
        """Shapes of the params and buffers a layer built from ``config`` has, known before anything is allocated
        (minicnn.load compares them with the file's arrays first); ValueError for a configuration that makes no sense."""
        return {}

    def astype(self, dtype):
        for store in (self.params, self.grads, self.buffers):
            for name, value in store.items():
                store[name] = value.astype(dtype)
        return self

    def _add_param(self, name, value):
        self.params[name] = value
        self.grads[name] = np.zeros_like(value)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


def check_int(layer, name, value, low, high=None):
    """A layer's integer argument, or ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low \
            or (high is not None and value > high):
        allowed = f"at least {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{layer} {name} must be an integer {allowed}, got {value!r}")
    return int(value)


def as_rng(rng):
    """Accept a Generator, a seed or None (fresh entropy)."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def he_normal(rng, shape, fan_in, dtype=DEFAULT_DTYPE):
    """He et al. (2015) initialisation, suited to ReLU networks: N(0, 2 / fan_in)."""
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)
