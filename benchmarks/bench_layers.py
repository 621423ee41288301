"""Per-layer forward and backward times on the small reference net's convs and pools (batch 64).

    python benchmarks/bench_layers.py

minicnn (Numba kernels + BLAS) against the same layers on the plain-NumPy reference
kernels and, when installed, PyTorch CPU.  Median of 7 repetitions after warm-up;
"× ref" / "× torch" = the other's time divided by minicnn's (above 1: minicnn is faster).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from common import environment, median_time, ratio, reference_kernels, torch  # noqa: E402
from minicnn import layers as L  # noqa: E402

BATCH = 64
CASES = [  # name, layer factory, input shape (C, H, W)
    ("conv1 1→32 3x3 @48", lambda: L.Conv2D(1, 32, 3, padding=1), (1, 48, 48)),
    ("conv2 32→64 3x3 @24", lambda: L.Conv2D(32, 64, 3, padding=1), (32, 24, 24)),
    ("conv3 64→128 3x3 @12", lambda: L.Conv2D(64, 128, 3, padding=1), (64, 12, 12)),
    ("maxpool 2 @48x32ch", lambda: L.MaxPool2D(2), (32, 48, 48)),
    ("maxpool 2 @24x64ch", lambda: L.MaxPool2D(2), (64, 24, 24)),
    ("maxpool 2 @12x128ch", lambda: L.MaxPool2D(2), (128, 12, 12)),
]


def minicnn_times(layer, x):
    y = layer.forward(x, training=True)
    dy = np.ones_like(y)
    return median_time(lambda: layer.forward(x, training=True)), median_time(lambda: layer.backward(dy))


def torch_times(layer, x):
    F = torch.nn.functional
    tx = torch.tensor(x, requires_grad=True)
    if isinstance(layer, L.Conv2D):
        w = torch.tensor(layer.params["weight"], requires_grad=True)
        b = torch.tensor(layer.params["bias"], requires_grad=True)
        fn = lambda: F.conv2d(tx, w, b, padding=layer.padding)          # noqa: E731
    else:
        fn = lambda: F.max_pool2d(tx, layer.kernel_size, layer.stride)  # noqa: E731
    y = fn()
    dy = torch.ones_like(y)

    def backward():
        out = fn()
        out.backward(dy)
    forward = median_time(fn)
    return forward, max(median_time(backward) - forward, 1e-9)


def main():
    print(environment())
    rng = np.random.default_rng(0)
    header = f"{'layer':<24}{'pass':<6}{'minicnn ms':>11}{'NumPy ref ms':>14}{'× ref':>7}"
    header += f"{'torch ms':>10}{'× torch':>9}" if torch is not None else ""
    print(header)
    for name, factory, shape in CASES:
        layer = factory()
        x = rng.standard_normal((BATCH,) + shape).astype(np.float32)
        fast = minicnn_times(layer, x)
        with reference_kernels():
            ref = minicnn_times(layer, x)
        theirs = torch_times(layer, x) if torch is not None else None
        for i, direction in enumerate(("fwd", "bwd")):
            row = f"{name:<24}{direction:<6}{1e3 * fast[i]:>11.2f}{1e3 * ref[i]:>14.2f}{ratio(fast[i], ref[i]):>7.2f}"
            if theirs:
                row += f"{1e3 * theirs[i]:>10.2f}{ratio(fast[i], theirs[i]):>9.2f}"
            print(row)


if __name__ == "__main__":
    main()
