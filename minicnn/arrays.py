"""Arrays wherever they live: NumPy's in main memory, CuPy's on an NVIDIA GPU.

A layer's whole-array form (``array_forward``/``array_backward``) is written against the NumPy API and
asks ``array_module(x)`` for the module that made ``x``, so the same lines run on either kind.
"""
import numpy as np


def on_gpu(x):
    """True for a CuPy array (told by its type's package, so CuPy need not be imported to ask)."""
    return type(x).__module__.partition(".")[0] == "cupy"


def array_module(x):
    """numpy for NumPy arrays, cupy for CuPy arrays."""
    if isinstance(x, np.ndarray):
        return np
    import cupy
    return cupy.get_array_module(x)


def to_numpy(x):
    """A NumPy array of ``x``, wherever it lives (a copy from a GPU, ``x`` itself from main memory)."""
    return x if isinstance(x, np.ndarray) else x.get()
