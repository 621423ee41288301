"""Whole-network speed: training img/s, inference img/s and batch-1 latency.

    python benchmarks/bench_nets.py [--arch small vgg]

For each net: a training step (forward + backward + SGD momentum, batch 64), inference
(batch 64) and the latency of one image.  minicnn against PyTorch CPU with the same
architecture when it is installed, and against minicnn on the NumPy reference kernels
otherwise.  Median of 7 repetitions after warm-up, measured in the same run.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from common import environment, median_time, reference_kernels, torch, torch_twin  # noqa: E402
from fer_app import models  # noqa: E402
from minicnn import optim  # noqa: E402
from minicnn.losses import SoftmaxCrossEntropy  # noqa: E402

BATCH = 64


def minicnn_speeds(model, x, y):
    loss, opt = SoftmaxCrossEntropy(), optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        loss.forward(model.forward(x, training=True), y)
        opt.zero_grad()
        model.backward(loss.backward())
        opt.step()
    return (BATCH / median_time(step), BATCH / median_time(lambda: model.forward(x)),
            median_time(lambda: model.forward(x[:1]), repeats=21))


def torch_speeds(model, x, y):
    net = torch_twin(model)
    tx, ty = torch.tensor(x), torch.tensor(y)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(net(tx), ty).backward()
        opt.step()
    net.train()
    train = BATCH / median_time(step)
    net.eval()
    with torch.no_grad():
        infer = BATCH / median_time(lambda: net(tx))
        latency = median_time(lambda: net(tx[:1]), repeats=21)
    return train, infer, latency


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", nargs="+", default=["small", "vgg"], choices=sorted(models.ARCHITECTURES))
    args = parser.parse_args(argv)
    print(environment())
    other = "torch" if torch is not None else "NumPy ref"
    print(f"{'net':<7}{'metric':<18}{'minicnn':>10}{other:>11}{'ratio':>8}   (ratio = minicnn / " + other +
          ", above 1: minicnn is faster)")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 1, 48, 48)).astype(np.float32)
    y = rng.integers(0, 7, BATCH)
    for arch in args.arch:
        model = models.build(arch, np.random.default_rng(0))
        ours = minicnn_speeds(model, x, y)
        if torch is not None:
            theirs = torch_speeds(model, x, y)
        else:
            with reference_kernels():
                theirs = minicnn_speeds(model, x, y)
        rows = [("train img/s", ours[0], theirs[0], ours[0] / theirs[0]),
                ("inference img/s", ours[1], theirs[1], ours[1] / theirs[1]),
                ("batch-1 latency ms", 1e3 * ours[2], 1e3 * theirs[2], theirs[2] / ours[2])]
        for metric, a, b, r in rows:
            print(f"{arch:<7}{metric:<18}{a:>10.1f}{b:>11.1f}{r:>8.2f}")


if __name__ == "__main__":
    main()
