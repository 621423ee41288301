"""minicnn: a convolutional-network framework written from scratch on NumPy, with Numba kernels.

    from minicnn import Sequential, load, layers, losses, optim
"""
import os

# Two thread pools take turns: OpenBLAS (matrix products) and Numba's OpenMP (kernels).
# By default each spins for milliseconds after its work, starving the other on a small
# machine (measured: 2.5 ms stalls after each product; batch-1 latency 44 ms → 1.7 ms).
# Both settings are read once, when the pools start, so import minicnn before NumPy.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import gradcheck, layers, losses, optim  # noqa: E402
from .model import ModelFileError, Sequential, load  # noqa: E402

__version__ = "0.1.0"
__all__ = ["Sequential", "load", "ModelFileError", "layers", "losses", "optim", "gradcheck"]
