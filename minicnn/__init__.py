"""minicnn: a convolutional-network framework written from scratch on NumPy, with Numba kernels.

    from minicnn import Sequential, load, layers, losses, optim
"""
from . import gradcheck, layers, losses, optim, serialization
from .arrays import to_numpy
from .model import Sequential
from .serialization import ModelFileError, load
from .parallel import num_threads, set_num_threads

__version__ = "0.1.0"
__all__ = ["Sequential", "load", "ModelFileError", "layers", "losses", "optim", "gradcheck", "serialization", "set_num_threads",
           "num_threads", "to_numpy"]
