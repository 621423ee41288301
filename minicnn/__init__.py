"""minicnn: a convolutional-network framework written from scratch on NumPy, with Numba kernels.

    from minicnn import Sequential, load, layers, losses, optim
"""
import os

# OpenBLAS worker threads spin for ~2.5 ms after every matrix product and starve the
# Numba kernels that follow on a small machine; a short timeout lets them sleep.
# OpenBLAS reads this once, when NumPy is first imported, so import minicnn first.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from . import gradcheck, layers, losses, optim  # noqa: E402
from .model import ModelFileError, Sequential, load  # noqa: E402

__version__ = "0.1.0"
__all__ = ["Sequential", "load", "ModelFileError", "layers", "losses", "optim", "gradcheck"]
