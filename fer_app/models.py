"""Named network architectures for 48×48 grey faces and 7 classes (``--arch``).

small   The benchmarks' reference net: three conv-ReLU-pool stages (32, 64, 128 filters),
        dropout and two dense layers.  1.27 M parameters, 23 M multiply-adds per image.
vgg     The net fer_app ships: VGG-style stages with BatchNorm after every conv,
        widths 32 → 64 → 128 → 256, dropout and a BatchNorm'd dense head.
        1.72 M parameters, 76 M multiply-adds per image.
resvgg  vgg with a skip around the second conv of each of its last two stages: the same layers, parameters and
        multiply-adds, each of those convs (with its BatchNorm) a Residual block, relu(x + BN(conv(x))).
resvgg2 resvgg with two convs in each of its two blocks (ResNet's basic block): 8 convs, 2.46 M parameters,
        118 M multiply-adds per image.
tiny    14 thousand parameters, 1.5 M multiply-adds: for the demo data and the tests (seconds per epoch).

Variants for ensembles (``--width``, ``--crop``): every architecture can be built wider or narrower and for
a smaller input (random crops of the face); the dense layer follows the input's size.
"""
from minicnn import Sequential
from minicnn import layers as L

from .labels import CLASSES

NUM_CLASSES = len(CLASSES)


def conv_bn_relu(c_in, c_out, rng):
    return [L.Conv2D(c_in, c_out, 3, padding=1, rng=rng), L.BatchNorm2D(c_out), L.ReLU()]


def small(rng, dropout=0.5, size=48, width=1.0):
    c1, c2, c3 = channels((32, 64, 128), width)
    return Sequential([
        L.Conv2D(1, c1, 3, padding=1, rng=rng), L.ReLU(), L.MaxPool2D(2),
        L.Conv2D(c1, c2, 3, padding=1, rng=rng), L.ReLU(), L.MaxPool2D(2),
        L.Conv2D(c2, c3, 3, padding=1, rng=rng), L.ReLU(), L.MaxPool2D(2),
        L.Flatten(), L.Dropout(dropout, rng=rng), L.Dense(c3 * pooled(size, 3) ** 2, 256, rng=rng), L.ReLU(),
        L.Dropout(dropout, rng=rng), L.Dense(256, NUM_CLASSES, rng=rng)])


def vgg(rng, dropout=0.5, size=48, width=1.0):
    c1, c2, c3, c4 = channels((32, 64, 128, 256), width)
    return Sequential(
        conv_bn_relu(1, c1, rng) + [L.MaxPool2D(2)]                              # 24×24 (for 48×48 faces)
        + conv_bn_relu(c1, c2, rng) + [L.MaxPool2D(2)]                           # 12×12
        + conv_bn_relu(c2, c3, rng) + conv_bn_relu(c3, c3, rng) + [L.MaxPool2D(2)]  # 6×6
        + conv_bn_relu(c3, c4, rng) + conv_bn_relu(c4, c4, rng) + [L.MaxPool2D(2)]  # 3×3
        + [L.Flatten(), L.Dropout(dropout, rng=rng), L.Dense(c4 * pooled(size, 4) ** 2, 256, rng=rng),
           L.BatchNorm1D(256), L.ReLU(), L.Dropout(dropout, rng=rng), L.Dense(256, NUM_CLASSES, rng=rng)])


def resvgg(rng, dropout=0.5, size=48, width=1.0, convs_per_block=1):
    c1, c2, c3, c4 = channels((32, 64, 128, 256), width)
    return Sequential(
        conv_bn_relu(1, c1, rng) + [L.MaxPool2D(2)]
        + conv_bn_relu(c1, c2, rng) + [L.MaxPool2D(2)]
        + conv_bn_relu(c2, c3, rng) + residual_block(c3, convs_per_block, rng) + [L.MaxPool2D(2)]
        + conv_bn_relu(c3, c4, rng) + residual_block(c4, convs_per_block, rng) + [L.MaxPool2D(2)]
        + [L.Flatten(), L.Dropout(dropout, rng=rng), L.Dense(c4 * pooled(size, 4) ** 2, 256, rng=rng),
           L.BatchNorm1D(256), L.ReLU(), L.Dropout(dropout, rng=rng), L.Dense(256, NUM_CLASSES, rng=rng)])


def resvgg2(rng, dropout=0.5, size=48, width=1.0):
    return resvgg(rng, dropout, size, width, convs_per_block=2)


def residual_block(c, convs, rng):
    """relu(x + BN(conv(x))), or with two convs relu(x + BN(conv(relu(BN(conv(x)))))) (ResNet's basic block)."""
    body = [L.Conv2D(c, c, 3, padding=1, rng=rng), L.BatchNorm2D(c)]
    for _ in range(convs - 1):
        body += [L.ReLU(), L.Conv2D(c, c, 3, padding=1, rng=rng), L.BatchNorm2D(c)]
    return [L.Residual(body), L.ReLU()]


def tiny(rng, dropout=0.25, size=48, width=1.0):
    c1, c2, c3 = channels((8, 16, 32), width)
    return Sequential(
        conv_bn_relu(1, c1, rng) + [L.MaxPool2D(2)]
        + conv_bn_relu(c1, c2, rng) + [L.MaxPool2D(2)]
        + conv_bn_relu(c2, c3, rng) + [L.MaxPool2D(2), L.Flatten(), L.Dropout(dropout, rng=rng),
                                       L.Dense(c3 * pooled(size, 3) ** 2, NUM_CLASSES, rng=rng)])


def channels(widths, width):
    """The architecture's channel counts scaled by ``width`` (a variant: 0.5 is half as wide)."""
    return [max(1, round(c * width)) for c in widths]


def pooled(size, pools):
    """The side of a size×size input after ``pools`` 2×2 max-pools (each drops an odd last row)."""
    return size >> pools


ARCHITECTURES = {"small": small, "vgg": vgg, "resvgg": resvgg, "resvgg2": resvgg2, "tiny": tiny}
MIN_SIZE = 16          # the smallest face side every architecture takes (vgg pools 4 times)


def build(name, rng, dropout=None, size=48, width=1.0):
    """Architecture ``name`` for size×size faces, its channels scaled by ``width``."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(ARCHITECTURES)}")
    if size < MIN_SIZE:
        raise ValueError(f"faces of {size}x{size}: the architectures need at least {MIN_SIZE}x{MIN_SIZE}")
    kwargs = {} if dropout is None else {"dropout": dropout}
    return ARCHITECTURES[name](rng, size=size, width=width, **kwargs)
