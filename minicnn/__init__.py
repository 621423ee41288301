"""minicnn: a convolutional-network framework written from scratch on NumPy, with Numba kernels.

    from minicnn import Sequential, load, layers, losses, optim
"""
from . import runtime

runtime.configure()     # before NumPy and Numba start their thread pools: see minicnn/runtime.py

from . import gradcheck, layers, losses, optim  # noqa: E402
from .model import ModelFileError, Sequential, load  # noqa: E402
from .runtime import set_num_threads  # noqa: E402

__version__ = "0.1.0"
__all__ = ["Sequential", "load", "ModelFileError", "layers", "losses", "optim", "gradcheck", "set_num_threads"]
