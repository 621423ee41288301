"""Named network architectures for 48×48 grey faces and 7 classes (``--arch``).

small   The benchmarks' reference net: three conv-ReLU-pool stages (32, 64, 128 filters),
        dropout and two dense layers.  1.27 M parameters, 23 M multiply-adds per image.
vgg     The net fer_app ships: VGG-style stages with BatchNorm after every conv,
        widths 32 → 64 → 128 → 256, dropout and a BatchNorm'd dense head.
        1.72 M parameters, 76 M multiply-adds per image.
tiny    14 thousand parameters, 1.5 M multiply-adds: for the demo data and the tests (seconds per epoch).
"""
from minicnn import Sequential
from minicnn import layers as L

from .labels import CLASSES

NUM_CLASSES = len(CLASSES)


def conv_bn_relu(c_in, c_out, rng):
    return [L.Conv2D(c_in, c_out, 3, padding=1, rng=rng), L.BatchNorm2D(c_out), L.ReLU()]


def small(rng, dropout=0.5):
    return Sequential([
        L.Conv2D(1, 32, 3, padding=1, rng=rng), L.ReLU(), L.MaxPool2D(2),
        L.Conv2D(32, 64, 3, padding=1, rng=rng), L.ReLU(), L.MaxPool2D(2),
        L.Conv2D(64, 128, 3, padding=1, rng=rng), L.ReLU(), L.MaxPool2D(2),
        L.Flatten(), L.Dropout(dropout, rng=rng), L.Dense(128 * 6 * 6, 256, rng=rng), L.ReLU(),
        L.Dropout(dropout, rng=rng), L.Dense(256, NUM_CLASSES, rng=rng)])


def vgg(rng, dropout=0.5):
    return Sequential(
        conv_bn_relu(1, 32, rng) + [L.MaxPool2D(2)]                                   # 24×24
        + conv_bn_relu(32, 64, rng) + [L.MaxPool2D(2)]                                # 12×12
        + conv_bn_relu(64, 128, rng) + conv_bn_relu(128, 128, rng) + [L.MaxPool2D(2)]  # 6×6
        + conv_bn_relu(128, 256, rng) + conv_bn_relu(256, 256, rng) + [L.MaxPool2D(2)]  # 3×3
        + [L.Flatten(), L.Dropout(dropout, rng=rng), L.Dense(256 * 3 * 3, 256, rng=rng), L.BatchNorm1D(256),
           L.ReLU(), L.Dropout(dropout, rng=rng), L.Dense(256, NUM_CLASSES, rng=rng)])


def tiny(rng, dropout=0.25):
    return Sequential(
        conv_bn_relu(1, 8, rng) + [L.MaxPool2D(2)]
        + conv_bn_relu(8, 16, rng) + [L.MaxPool2D(2)]
        + conv_bn_relu(16, 32, rng) + [L.MaxPool2D(2), L.Flatten(), L.Dropout(dropout, rng=rng),
                                       L.Dense(32 * 6 * 6, NUM_CLASSES, rng=rng)])


ARCHITECTURES = {"small": small, "vgg": vgg, "tiny": tiny}


def build(name, rng, dropout=None):
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name](rng) if dropout is None else ARCHITECTURES[name](rng, dropout)
