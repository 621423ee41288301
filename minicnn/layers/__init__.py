"""All layers of minicnn; each file is one page of the textbook."""
from .activations import Flatten, LeakyReLU, ReLU
from .base import Layer
from .batchnorm import BatchNorm1D, BatchNorm2D
from .conv import Conv2D
from .dense import Dense
from .dropout import Dropout
from .pool import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from .residual import Residual

LAYER_TYPES = {cls.__name__: cls for cls in (
    Conv2D, MaxPool2D, AvgPool2D, GlobalAvgPool2D, Dense, ReLU, LeakyReLU,
    Flatten, Dropout, BatchNorm2D, BatchNorm1D, Residual)}

__all__ = ["Layer", "LAYER_TYPES"] + list(LAYER_TYPES)
