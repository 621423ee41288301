"""Per-layer speed on the shipped vgg net's convolutions and pools (batch 64), in GFLOP/s against the GEMM peak.

    python benchmarks/bench_layers.py [--minicnn-first] [--busy N] [--threads N]

For each layer, forward and backward: minicnn's time and the algorithm it chose, PyTorch's time
(when installed) and the ratio; for convolutions also the useful work rate, 2·N·F·C·k²·Ho·Wo
floating-point operations forward and twice that backward (dL/dx and dL/dW), whatever the
algorithm does inside, as a share of this machine's peak: a large float32 matrix product in
NumPy, measured in the same run.  Each pair is timed in turn (median of REPEATS).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import add_scenario_arguments, busy_processes, environment, interleaved_medians, torch  # noqa: E402
import numpy as np  # noqa: E402

from fer_app import models  # noqa: E402
from minicnn import conv_cpu, layers as L  # noqa: E402

BATCH = 64
REPEATS = 9
PEAK_SIZE = 2048


def gemm_peak():
    """GFLOP/s of a PEAK_SIZE² float32 matrix product in NumPy (its BLAS, all threads)."""
    a = np.random.default_rng(0).standard_normal((PEAK_SIZE, PEAK_SIZE)).astype(np.float32)
    t = interleaved_medians({"gemm": lambda: a @ a}, repeats=5)["gemm"]
    return 2 * PEAK_SIZE ** 3 / t / 1e9


def vgg_layers():
    """(name, layer, input shape) for the vgg net's convolutions and pools, in order."""
    model = models.build("vgg", np.random.default_rng(0))
    shape, cases = (1, 48, 48), []
    for layer in model.layers:
        if isinstance(layer, (L.Conv2D, L.MaxPool2D)):
            C, H, W = shape
            if isinstance(layer, L.Conv2D):
                name = f"conv {C}→{layer.out_channels} {layer.kernel_size}x{layer.kernel_size} @{H}"
            else:
                name = f"maxpool {layer.kernel_size} {C}ch @{H}"
            cases.append((name, layer, shape))
        if isinstance(layer, L.Flatten):
            break
        shape = layer.forward(np.zeros((1,) + shape, np.float32)).shape[1:]
    return cases


def minicnn_passes(layer, x):
    y = layer.forward(x, training=True)
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    return {"fwd": lambda: layer.forward(x, training=True),
            "bwd": lambda: (layer.forward(x, training=True), layer.backward(dy))}


def torch_passes(layer, x):
    F = torch.nn.functional
    tx = torch.tensor(x, requires_grad=True)
    if isinstance(layer, L.Conv2D):
        w = torch.tensor(layer.params["weight"], requires_grad=True)
        b = torch.tensor(layer.params["bias"], requires_grad=True)
        fn = lambda: F.conv2d(tx, w, b, padding=layer.padding)          # noqa: E731
    else:
        fn = lambda: F.max_pool2d(tx, layer.kernel_size, layer.stride)  # noqa: E731
    dy = torch.ones_like(fn())
    return {"fwd": fn, "bwd": lambda: fn().backward(dy)}


def conv_flops(layer, x):
    N, C, H, W = x.shape
    Ho = H + 2 * layer.padding - layer.kernel_size + 1
    return 2 * N * layer.out_channels * C * layer.kernel_size ** 2 * Ho * (W + 2 * layer.padding - layer.kernel_size + 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_scenario_arguments(parser)
    args = parser.parse_args(argv)
    print(environment(args))
    rng = np.random.default_rng(0)
    with busy_processes(args.busy):
        peak = gemm_peak()
        print(f"GEMM peak: {peak:.0f} GFLOP/s (NumPy float32 {PEAK_SIZE}x{PEAK_SIZE} matmul)")
        header = f"{'layer':<26}{'pass':<5}{'algorithm':<10}{'minicnn ms':>11}{'GFLOP/s':>9}{'% peak':>8}"
        if torch is not None:
            header += f"{'torch ms':>10}{'GFLOP/s':>9}{'× torch':>9}"
        print(header)
        for name, layer, shape in vgg_layers():
            x = rng.standard_normal((BATCH,) + shape).astype(np.float32)
            ours = minicnn_passes(layer, x)
            theirs = torch_passes(layer, x) if torch is not None else {}
            algorithm = conv_cpu.choose(layer, x) if isinstance(layer, L.Conv2D) else ""
            # "bwd" times forward + backward: the backward is its difference with a forward timed in the same turns
            # (medians of separate runs, minutes apart on a noisy machine, could leave nearly nothing)
            sides = {"ours": ours, **({"theirs": theirs} if theirs else {})}
            medians = interleaved_medians({(side, d): passes[d] for side, passes in sides.items()
                                           for d in ("fwd", "bwd")}, repeats=REPEATS)
            for direction in ("fwd", "bwd"):
                t = {side: medians[side, direction] - (medians[side, "fwd"] if direction == "bwd" else 0)
                     for side in sides}
                flops = conv_flops(layer, x) * (2 if direction == "bwd" else 1) if algorithm else None
                row = f"{name:<26}{direction:<5}{algorithm:<10}{1e3 * t['ours']:>11.2f}"
                row += f"{flops / t['ours'] / 1e9:>9.0f}{100 * flops / t['ours'] / 1e9 / peak:>7.0f}%" if flops \
                    else f"{'':>9}{'':>8}"
                if theirs:
                    row += f"{1e3 * t['theirs']:>10.2f}"
                    row += f"{flops / t['theirs'] / 1e9:>9.0f}" if flops else f"{'':>9}"
                    row += f"{t['theirs'] / t['ours']:>9.2f}"
                print(row, flush=True)


if __name__ == "__main__":
    main()
